"""``runs()``: one row per run, from ``run.json``, ``params.json`` and the summary files."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from ferrotrack.core.analysis._select import Experiments, Root
from ferrotrack.core.analysis.summaries import read_summaries
from ferrotrack.core.store.catalog import RunRecord, flatten, list_runs
from ferrotrack.core.store.jsonfile import read_json_objects

__all__ = ["METRIC_STATS", "REPEAT_TAG", "TRIAL_TAG", "runs"]

METRIC_STATS = ("last", "min", "max")
"""The summary statistics that become ``<metric>.<stat>`` columns."""

_TS = pl.Datetime("ns", "UTC")

TRIAL_TAG = "ferrotrack.trial"
"""The tag naming the trial a run belongs to (set by ``ferrotrack.experiment``), shown as the
``trial`` column so that trials compare without digging into ``tags``."""
REPEAT_TAG = "ferrotrack.repeat"
"""The tag holding a trial run's repeat index, shown as the ``repeat`` column (Int64)."""


def runs(
    root: Root = None,
    *,
    experiment: Experiments = None,
    status: str | Iterable[str] | None = None,
) -> pl.DataFrame:
    """One row per run: experiment, run_id, name, status, started, ended, duration, parent,
    trial and repeat (of an experiment's trial run; null otherwise), tags (a struct),
    ``params.<dotted key>`` columns and ``<metric>.last/.min/.max``.

    ``status`` filters on the status a reader reports, so ``"crashed"`` finds runs whose
    writer died. Metric columns come from the summary files, never from the points.

    >>> runs(experiment="cifar10").sort("val/acc.max", descending=True).head(1)  # doctest: +SKIP
    """
    records = list_runs(root, experiment=experiment, status=status)
    base = _base_columns(records)
    params = _params_columns(records)
    metrics = _metric_columns(records)
    return pl.concat([base, params, metrics], how="horizontal")


def _base_columns(records: Sequence[RunRecord]) -> pl.DataFrame:
    metas = [r.meta for r in records]
    started = pl.Series("started", [_int(m.get("started")) for m in metas], pl.Int64).cast(_TS)
    ended = pl.Series("ended", [_int(m.get("ended")) for m in metas], pl.Int64).cast(_TS)
    tags: list[dict[str, Any]] = [_dict(m.get("tags")) for m in metas]
    frame = pl.DataFrame(
        {
            "experiment": [r.ref.experiment for r in records],
            "run_id": [r.ref.run_id for r in records],
            "name": [
                str(m.get("name") or r.ref.run_id[-8:]) for r, m in zip(records, metas, strict=True)
            ],
            "status": [r.status for r in records],
            "started": started,
            "ended": ended,
            "duration": ended - started,
            "parent": [m.get("parent") for m in metas],
            "trial": [t.get(TRIAL_TAG) for t in tags],
            "repeat": [_repeat(t.get(REPEAT_TAG)) for t in tags],
        },
        schema_overrides={"parent": pl.String, "trial": pl.String, "repeat": pl.Int64},
    )
    return frame.with_columns(_tags_column(tags))


def _repeat(value: object) -> int | None:
    """The repeat index a tag holds (tags are strings), or null when it is not one."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tags_column(tags: list[dict[str, Any]]) -> pl.Series:
    keys = sorted({k for t in tags for k in t})
    dtype = pl.Struct({k: pl.String for k in keys})
    values = [{k: _as_str(t.get(k)) for k in keys} for t in tags]
    return pl.Series("tags", values, dtype=dtype)


def _as_str(value: object) -> str | None:
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _params_columns(records: Sequence[RunRecord]) -> pl.DataFrame:
    params = read_json_objects([os.path.join(r.ref.folder, "params.json") for r in records])
    flat = [flatten(p) for p in params]
    keys = sorted({k for row in flat for k in row})
    return pl.DataFrame([_column(f"params.{k}", [row.get(k) for row in flat]) for k in keys])


def _column(name: str, values: list[Any]) -> pl.Series:
    """A column of one parameter; mixed types fall back to float, then to JSON text."""
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, pl.exceptions.PolarsError, OverflowError):
        pass
    if all(v is None or isinstance(v, int | float) for v in values):
        return pl.Series(name, values, dtype=pl.Float64, strict=False)
    return pl.Series(name, [_as_str(v) for v in values], dtype=pl.String)


def _metric_columns(records: Sequence[RunRecord]) -> pl.DataFrame:
    summary = read_summaries([r.ref for r in records], columns=METRIC_STATS)
    height = len(records)
    if summary.is_empty():
        return pl.DataFrame()
    names = sorted(summary.get_column("name").unique().to_list())
    index = pl.DataFrame({"run_idx": range(height)}, schema={"run_idx": pl.Int64})
    pivots = {
        stat: index.join(
            summary.pivot(on="name", index="run_idx", values=stat, on_columns=names),
            on="run_idx",
            how="left",
            maintain_order="left",
        )
        for stat in METRIC_STATS
    }
    return pl.DataFrame(
        [pivots[stat].get_column(n).alias(f"{n}.{stat}") for n in names for stat in METRIC_STATS]
    )
