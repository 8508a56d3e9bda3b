"""Values made JSON-ready: non-finite floats become null (JSON has no NaN), times ISO text."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

__all__ = ["finite", "iso", "jsonable"]


def finite(value: float | None) -> float | None:
    """``value``, or None when it is NaN or infinite."""
    if value is None or not math.isfinite(value):
        return None
    return value


def iso(ns: object) -> str | None:
    """Nanoseconds since the epoch as ISO 8601 UTC text (None when not an int)."""
    if not isinstance(ns, int) or isinstance(ns, bool):
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def jsonable(value: Any) -> Any:
    """A copy of a JSON-like value with non-finite floats replaced by None."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
