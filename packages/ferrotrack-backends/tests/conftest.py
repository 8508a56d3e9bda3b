"""Fixtures of the backends' tests: a fresh store root per test, no run left open."""

from ferrotrack.core.fixtures import root

__all__ = ["root"]
