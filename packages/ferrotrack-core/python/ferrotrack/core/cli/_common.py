"""What every sub-command shares: the store root, JSON output, the console, errors."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

__all__ = ["State", "echo_json", "err_console", "fmt_time", "out_console", "state"]


@dataclass
class State:
    """Options of the top-level command, handed to sub-commands through the click context."""

    root: Path
    debug: bool = False


def state() -> State:
    """The :class:`State` of the running command."""
    obj = click.get_current_context().find_object(State)
    if obj is None:  # a sub-command invoked on its own, e.g. in tests
        from ferrotrack.core.store.layout import resolve_root

        return State(resolve_root(None))
    return obj


def out_console() -> Console:
    """Console for results (stdout)."""
    return Console(soft_wrap=True, highlight=False)


def err_console() -> Console:
    """Console for progress and errors (stderr), so stdout stays parseable."""
    return Console(stderr=True, highlight=False)


def echo_json(obj: Any) -> None:
    """Writes ``obj`` as JSON on stdout (datetimes as ISO 8601)."""
    sys.stdout.write(json.dumps(obj, indent=2, default=_default, allow_nan=True) + "\n")


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return str(value)


def fmt_time(ns: object) -> str:
    """An ns timestamp as local-free ISO text (UTC), or ``-``."""
    if not isinstance(ns, int):
        return "-"
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
