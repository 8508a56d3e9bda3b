"""The ``ferrotrack`` command. Sub-commands of other packages join through entry points."""

from __future__ import annotations

from ferrotrack.core.cli.app import build, main

__all__ = ["build", "main"]
