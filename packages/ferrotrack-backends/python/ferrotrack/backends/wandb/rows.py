"""Batches of points as W&B history rows: one row per step, built from the Arrow columns.

W&B's history is a table with one row per ``log`` call, and a row holds one value per key.
Points are grouped by step (ascending); a name logged twice at one step goes to a second
row of that step, so no point is folded into another. Grouping, ordering and the last value
of each name are numpy work on the columns; Python touches each row once, to build the
dict ``wandb.log`` takes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.arrow import name_codes

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RESERVED", "HistoryRows", "history_rows", "refused_name"]

RESERVED = frozenset({"_step", "_runtime", "_timestamp"})
"""History keys W&B fills itself: a metric of that name would be overwritten or dropped."""


def refused_name(name: str, step_metric: str) -> str | None:
    """Why W&B cannot take the metric ``name`` (``None``: it can)."""
    if not name:
        return "W&B drops an empty key"
    if name in RESERVED or name.startswith("_wandb"):
        return f"W&B reserves {name!r} for its own history column"
    if name == step_metric:
        return f"{name!r} is the backend's step axis"
    return None


@dataclass
class HistoryRows:
    """What one batch becomes: rows to log (in order), and what was left out."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    """Each row: metric name -> value, plus the step axis key and ``_timestamp`` (seconds)."""
    last: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Per name, the step and value of its last point at its highest step in the batch."""
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Per name W&B cannot take: how many points, and why."""


def history_rows(batch: pa.RecordBatch, step_metric: str) -> HistoryRows:
    """The rows of ``batch`` (store schema), grouped by step (see the module)."""
    import numpy as np
    import pyarrow as pa

    out = HistoryRows()
    if batch.num_rows == 0:
        return out
    names, codes = name_codes(batch)
    reasons = [refused_name(n, step_metric) for n in names]
    ok = np.array([r is None for r in reasons], dtype=bool)
    keep = ok[codes]
    if not keep.all():
        counts = np.bincount(codes[~keep], minlength=len(names))
        for i, reason in enumerate(reasons):
            if reason is not None and counts[i]:
                out.refused[names[i]] = (int(counts[i]), reason)
    idx = np.flatnonzero(keep)
    if idx.size == 0:
        return out
    code = codes[idx]
    step = batch.column("step").to_numpy(zero_copy_only=False).astype(np.int64)[idx]
    stamp = batch.column("timestamp").cast(pa.int64()).to_numpy(zero_copy_only=False)[idx]
    value = batch.column("value").to_numpy(zero_copy_only=False).astype(np.float64)[idx]
    pos = np.arange(idx.size)
    # Occurrence of each (step, name): the k-th point of a name at a step goes to row k.
    by_key = np.lexsort((pos, code, step))
    s, c = step[by_key], code[by_key]
    starts = np.ones(idx.size, dtype=bool)
    starts[1:] = (s[1:] != s[:-1]) | (c[1:] != c[:-1])
    group_start = np.maximum.accumulate(np.where(starts, np.arange(idx.size), 0))
    occ = np.empty(idx.size, dtype=np.int64)
    occ[by_key] = np.arange(idx.size) - group_start
    # Rows ordered by step, then occurrence; points of a row in logged order.
    final = np.lexsort((pos, occ, step))
    f_step, f_occ = step[final], occ[final]
    bounds = np.flatnonzero((f_step[1:] != f_step[:-1]) | (f_occ[1:] != f_occ[:-1])) + 1
    edges = [0, *bounds.tolist(), idx.size]
    row_names = np.array(names, dtype=object)[code[final]].tolist()
    row_values = value[final].tolist()
    row_steps = f_step[np.array(edges[:-1])].tolist()
    row_times = (np.maximum.reduceat(stamp[final], edges[:-1]) / 1e9).tolist()
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        row: dict[str, Any] = dict(zip(row_names[a:b], row_values[a:b], strict=True))
        row[step_metric] = row_steps[i]
        row["_timestamp"] = row_times[i]
        out.rows.append(row)
    # The last point of each name in that order is at its highest step, logged last.
    reversed_codes = code[final][::-1]
    uniq, first = np.unique(reversed_codes, return_index=True)
    for k, j in zip(uniq.tolist(), first.tolist(), strict=True):
        at = idx.size - 1 - j
        out.last[names[k]] = (int(f_step[at]), row_values[at])
    return out
