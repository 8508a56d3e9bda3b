"""Fixtures of the experiment package's tests: a fresh store root per test, no run left open."""

from ferrotrack.core.fixtures import root, tests_importable

tests_importable(__file__)

__all__ = ["root"]
