"""Runs a module of guide code one top-level statement at a time, as a console session would.

Some guide blocks show a wrong line and then the right one; run as a script, the wrong line
raises and the right one never runs. Run statement by statement, an expected error is
printed and the next statement still runs, and the caller can look at the namespace after
each statement.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["run_statements"]

AfterStatement = Callable[[str, dict[str, Any]], None]


def run_statements(
    path: Path,
    *,
    expect: tuple[type[BaseException], ...] = (),
    after: AfterStatement | None = None,
) -> list[BaseException]:
    """Executes ``path`` statement by statement in one fresh namespace; prints ``>>> line``
    for each statement and ``Name: message`` for each ``expect``-ed error (the others
    propagate). ``after(source, namespace)`` runs after each statement that succeeded.
    Returns the errors caught, in order."""
    source = path.read_text()
    namespace: dict[str, Any] = {"__name__": path.stem, "__file__": str(path)}
    caught: list[BaseException] = []
    for node in ast.parse(source, str(path)).body:
        text = ast.get_source_segment(source, node) or ""
        print(f">>> {text.splitlines()[0]}")
        code = compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec")
        try:
            exec(code, namespace)
        except expect as exc:
            print(f"{type(exc).__name__}: {exc}")
            caught.append(exc)
            continue
        if after is not None:
            after(text, namespace)
    return caught
