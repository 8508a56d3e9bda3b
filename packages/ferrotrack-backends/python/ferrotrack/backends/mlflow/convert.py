"""ferrotrack facts in MLflow's terms: points as ``Metric`` entities built a column at a
time, params flattened with dots, statuses, MLflow's name and length limits."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.arrow import name_codes

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "MAX_ENTITIES",
    "MAX_KEY_LENGTH",
    "MAX_PARAMS_TAGS_PER_REQUEST",
    "MAX_PARAM_LENGTH",
    "MAX_TAG_LENGTH",
    "STATUSES",
    "bad_name",
    "chunks",
    "param_text",
    "point_columns",
    "request_plan",
]

MAX_KEY_LENGTH = 250
"""Longest metric, param or tag key MLflow takes."""
MAX_PARAM_LENGTH = 6000
"""Longest param value MLflow takes (its client cuts longer ones)."""
MAX_TAG_LENGTH = 8000
"""Longest tag value MLflow takes."""
MAX_ENTITIES = 1000
"""Metrics + params + tags MLflow takes in one ``log_batch`` request."""
MAX_PARAMS_TAGS_PER_REQUEST = 100
"""Params, and tags, per ``log_batch`` request."""

STATUSES = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "crashed": "FAILED",
    "killed": "KILLED",
}
"""ferrotrack status -> MLflow ``RunStatus`` name."""

_NAME = re.compile(r"^[/\w.\- :]*$")


def bad_name(name: str) -> str | None:
    """Why MLflow refuses ``name`` as a metric or param key, or ``None`` when it takes it.

    The same rules as MLflow's server (``mlflow.utils.validation``), checked here once per
    distinct name so that one bad name does not fail a whole request.
    """
    if not name:
        return "it is empty"
    if len(name) > MAX_KEY_LENGTH:
        return f"it is longer than {MAX_KEY_LENGTH} characters"
    if not _NAME.match(name):
        return "MLflow takes only letters, digits, '_', '-', '.', ' ', ':' and '/' in a name"
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith(("..", "/")):
        return f"MLflow refuses names that resolve as paths to another name ({norm!r})"
    return None


def param_text(value: Any) -> str:
    """A param value as MLflow stores it (``str``, like ``mlflow.log_params``)."""
    return value if isinstance(value, str) else str(value)


def point_columns(
    batch: pa.RecordBatch, keep: Callable[[str], bool]
) -> tuple[list[str], list[float], list[int], list[int]]:
    """``(keys, values, timestamps in ms, steps)`` of the points whose name ``keep`` takes.

    One Arrow-to-list conversion per column and a ``take`` for the names; no per-point
    Arrow scalar. MLflow's timestamps are milliseconds: nanoseconds are floored.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    names, codes = name_codes(batch)
    steps = batch.column("step").to_numpy(zero_copy_only=False)
    stamps = pc.cast(batch.column("timestamp"), pa.int64()).to_numpy(zero_copy_only=False)
    values = batch.column("value").to_numpy(zero_copy_only=False)
    kept = np.fromiter((keep(n) for n in names), bool, len(names))
    if not kept.all():
        mask = kept[codes]
        codes, steps, stamps, values = codes[mask], steps[mask], stamps[mask], values[mask]
    keys: list[str] = np.asarray(names, dtype=object)[codes].tolist() if len(codes) else []
    millis: list[int] = (stamps // 1_000_000).tolist()
    return keys, values.tolist(), millis, steps.tolist()


def request_plan(total: int, size: int, position: bool) -> list[tuple[int, int, bool]]:
    """``(start, end, with position)`` of each ``log_batch`` request for ``total`` points.

    At most ``size`` points and ``MAX_ENTITIES`` entities a request (MLflow's client would
    split a fuller one itself, possibly committing the position before the last points);
    the position, when asked, rides on the last request, after every point.
    """
    size = max(1, min(size, MAX_ENTITIES))
    plan = [(a, b, False) for a, b in chunks(total, size)]
    if position:
        if plan and plan[-1][1] - plan[-1][0] + 1 <= MAX_ENTITIES:
            a, b, _ = plan.pop()
            plan.append((a, b, True))
        else:
            plan.append((total, total, True))
    return plan


def chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive slices of at most ``size`` items."""
    for start in range(0, total, size):
        yield start, min(start + size, total)
