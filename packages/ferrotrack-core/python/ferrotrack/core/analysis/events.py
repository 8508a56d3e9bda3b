"""The run events of many runs as one polars DataFrame (``docs/format.md``, events)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import polars as pl

from ferrotrack.core.analysis._select import Experiments, Root, RunsArg, select_runs
from ferrotrack.core.store.events import read_events

__all__ = ["events", "events_schema"]


def events_schema() -> dict[str, pl.DataType]:
    """Columns of :func:`events`, in order."""
    return {
        "experiment": pl.String(),
        "run_id": pl.String(),
        "rank": pl.Int64(),
        "seq": pl.Int64(),
        "time": pl.Datetime("ns", "UTC"),
        "kind": pl.String(),
        "name": pl.String(),
        "level": pl.String(),
        "step": pl.Int64(),
        "message": pl.String(),
        "data": pl.String(),
    }


def events(
    experiment: Experiments = None,
    run_id: RunsArg = None,
    kind: str | Iterable[str] | None = None,
    root: Root = None,
) -> pl.DataFrame:
    """One row per run event: experiment, run_id, rank, seq, time (UTC), kind, name, level,
    step, message and ``data`` as JSON text; each run's events ordered by (time, rank, seq).

    ``run_id`` takes ids, unique id prefixes or names (or a ``runs()`` DataFrame);
    ``kind`` one kind or several.

    >>> events(experiment="cifar10", kind="checkpoint")  # doctest: +SKIP
    """
    kinds = None if kind is None else frozenset([kind] if isinstance(kind, str) else kind)
    rows: dict[str, list[object]] = {column: [] for column in events_schema()}
    for ref in select_runs(root, experiment, run_id):
        for e in read_events(ref.folder):
            if kinds is not None and e.kind not in kinds:
                continue
            values = (
                ref.experiment,
                ref.run_id,
                e.rank,
                e.seq,
                e.time,
                e.kind,
                e.name,
                e.level,
                e.step,
                e.message,
                json.dumps(e.data, sort_keys=True),
            )
            for column, value in zip(rows, values, strict=True):
                rows[column].append(value)
    schema = events_schema()
    frame = pl.DataFrame(
        {c: rows[c] for c in schema}, schema={**schema, "time": pl.Int64()}, strict=False
    )
    return frame.with_columns(pl.col("time").cast(schema["time"]))
