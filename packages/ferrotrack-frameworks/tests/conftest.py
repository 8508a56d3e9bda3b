"""Fixtures of the frameworks' tests: a fresh store root and working folder per test."""

from ferrotrack.core.fixtures import root, tests_importable

tests_importable(__file__)

__all__ = ["root"]
