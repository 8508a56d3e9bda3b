"""What every sub-command shares: the store root, JSON output, the consoles, errors."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ferrotrack.core.errors import InvalidArgumentError

__all__ = [
    "State",
    "echo_json",
    "err_console",
    "fmt_time",
    "one_line",
    "out_console",
    "print_error",
    "state",
    "store_root",
]


@dataclass
class State:
    """Options of the top-level command, handed to sub-commands through the click context."""

    root: Path
    debug: bool = False
    root_source: str = "--root"
    """Where :attr:`root` came from (``--root``, ``FERROTRACK_ROOT``, a settings file...)."""


def state() -> State:
    """The :class:`State` of the running command."""
    obj = click.get_current_context().find_object(State)
    if obj is None:  # a sub-command invoked on its own, e.g. in tests
        from ferrotrack.core.settings.lookup import root_and_source

        root, source = root_and_source(None)
        return State(root, root_source=source)
    return obj


def store_root(root: str | os.PathLike[str] | None = None, source: str = "--root") -> Path:
    """The store folder a reading command works on (``root`` if given, else the command's);
    raises when it does not exist, so a mistyped ``--root`` is an error and not an empty
    listing."""
    if root is None:
        current = state()
        root, source = current.root, current.root_source
    else:
        from ferrotrack.core.settings.lookup import root_and_source

        root, source = root_and_source(root, given_as=source)
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise InvalidArgumentError(
            f"store folder {root} {what} (from {source}): expected the folder of an existing "
            "store; pass --root, or set FERROTRACK_ROOT or root in ferrotrack.toml"
        )
    return root


def out_console() -> Console:
    """Console for results (stdout)."""
    return Console(soft_wrap=True, highlight=False)


def err_console() -> Console:
    """Console for progress and errors (stderr), so stdout stays parseable. Soft-wrapped:
    a line is never cut at the console's width, even when stderr is not a terminal."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def one_line(text: str) -> str:
    """``text`` on one line: line breaks (a multi-line message from below) become spaces."""
    return " ".join(text.split())


def print_error(message: str) -> None:
    """``error: <message>`` as exactly one line on stderr (red on a terminal)."""
    prefix = click.style("error:", fg="red", bold=True)
    click.echo(f"{prefix} {one_line(message)}", err=True, color=None)


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
