"""Params as the HParams plugin takes them: flat dotted keys, each value a number, a
string or a bool (anything else as its JSON text)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from ferrotrack.core.params import flatten

__all__ = ["hparam_items", "status_of"]

_EXACT_INT = 2**53
"""Ints up to this size are exact as the plugin's doubles; larger ones go as text."""

Status = Literal["success", "failure", "running", "unknown"]

STATUS: dict[str, Status] = {
    "finished": "success",
    "failed": "failure",
    "crashed": "failure",
    "running": "running",
}
"""ferrotrack's status to the plugin's (``crashed``: a failure, the process died;
``killed``: unknown, the plugin has no word)."""


def hparam_items(params: Mapping[str, Any]) -> list[tuple[str, bool | float | str]]:
    """``(dotted key, value)`` per leaf of ``params``, sorted by key."""
    out: list[tuple[str, bool | float | str]] = []
    for key, value in sorted(flatten(params).items()):
        out.append((key, _value(value)))
    return out


def _value(value: Any) -> bool | float | str:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return float(value) if abs(value) <= _EXACT_INT else str(value)
    if isinstance(value, float):
        return value
    if value is None:
        return ""
    return json.dumps(value, default=str, ensure_ascii=False)


def status_of(status: str) -> Status:
    """The plugin's status for ferrotrack's ``status``."""
    return STATUS.get(status, "unknown")
