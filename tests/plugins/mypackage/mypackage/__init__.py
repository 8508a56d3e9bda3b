"""Seed 003's third-party plugins (test-only): each module holds one guide block verbatim,
then the private helpers the guide leaves to the reader."""
