"""``Experiment.results()`` and ``Experiment.status()`` as polars tables.

Both read the store, never the running process, so they answer the same from a notebook,
the CLI, or after a crash. ``results`` takes parameters and final metrics from core's
``runs()`` table, so a trial run compares exactly as ``ft.runs()`` shows it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import polars as pl

from ferrotrack.core.params import flatten
from ferrotrack.core.store.catalog import RunRecord
from ferrotrack.experiment.runs import StoredExperiment, find_experiment, state_of

__all__ = ["METRIC_PREFIX", "results_table", "status_table"]

METRIC_PREFIX = "metric:"
"""The column of a metric whose name is already a column (``metric:status``)."""

_STATUS_SCHEMA = {
    "trial": pl.String,
    "repeat": pl.Int64,
    "state": pl.String,
    "run_id": pl.String,
    "attempts": pl.Int64,
}


def status_table(
    root: str | os.PathLike[str], experiment: str, expected: Sequence[tuple[str, int]]
) -> pl.DataFrame:
    """One row per trial run the config asks for (``expected``: ``(trial, repeat)`` pairs in
    order), then any the store has beyond them: its state (done, failed, stopped, running,
    pending), the id of its latest attempt and how many attempts there were."""
    stored = find_experiment(root, experiment)
    keys = list(expected)
    keys += sorted(set(stored.attempts) - set(keys))
    rows = []
    for trial, repeat in keys:
        latest = stored.latest(trial, repeat)
        rows.append(
            {
                "trial": trial,
                "repeat": repeat,
                "state": state_of(latest),
                "run_id": None if latest is None else latest.ref.run_id,
                "attempts": len(stored.attempts.get((trial, repeat), ())),
            }
        )
    return pl.DataFrame(rows, schema=_STATUS_SCHEMA)


def results_table(
    root: str | os.PathLike[str], experiment: str, order: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per trial run of the latest experiment run (its latest attempt): trial,
    repeat, run_id, status, ``params.*`` and each metric's last value under its own name
    (``metric:<name>`` for a metric named like one of those columns: ``metric:status``).

    ``status`` is ``completed``, ``stopped``, ``failed``, ``killed``, ``crashed`` or
    ``running``. Rows follow the trials' ``order`` (config order), then the repeat.
    """
    stored = find_experiment(root, experiment)
    latest = _latest_attempts(stored)
    rank = {name: i for i, name in enumerate(order)}
    latest.sort(key=lambda item: (rank.get(item[0], len(rank)), item[0], item[1]))
    base = pl.DataFrame(
        {
            "trial": [t for t, _, _ in latest],
            "repeat": [r for _, r, _ in latest],
            "run_id": [rec.ref.run_id for _, _, rec in latest],
            "status": [_status(rec) for _, _, rec in latest],
        },
        schema={"trial": pl.String, "repeat": pl.Int64, "run_id": pl.String, "status": pl.String},
    )
    if base.is_empty():
        return base
    from ferrotrack.core.analysis.table import runs

    table = runs(root, experiment=experiment).filter(
        pl.col("run_id").is_in(base["run_id"].to_list())
    )
    wanted = [
        c
        for c in table.columns
        if (c.startswith("params.") or c.endswith(".last")) and table[c].null_count() < len(table)
    ]
    params = _param_columns([rec for _, _, rec in latest]) & set(wanted)
    taken = set(base.columns) | params
    columns = []
    for column in wanted:
        if column in params:
            columns.append(pl.col(column))
        elif column.endswith(".last"):
            metric = column.removesuffix(".last")
            # A metric named like a column of this table (status, params.lr) keeps its
            # value under metric:<name>; never a silent status_right.
            alias = f"{METRIC_PREFIX}{metric}" if metric in taken else metric
            columns.append(pl.col(column).alias(alias))
    extra = table.select("run_id", *columns)
    return base.join(extra, on="run_id", how="left", maintain_order="left")


def _param_columns(records: Sequence[RunRecord]) -> set[str]:
    """The ``params.*`` columns these runs' params make: a metric logged as ``params.lr``
    has a ``params.lr.last`` column too, and only the params files tell them apart."""
    found: set[str] = set()
    for record in records:
        try:
            data = json.loads((record.ref.path / "params.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            found.update(f"params.{key}" for key in flatten(data))
    return found


def _latest_attempts(stored: StoredExperiment) -> list[tuple[str, int, RunRecord]]:
    return [(trial, repeat, runs[-1]) for (trial, repeat), runs in stored.attempts.items()]


def _status(record: RunRecord) -> str:
    state = state_of(record)
    if state == "done":
        return "completed"
    if state == "stopped":
        return "stopped"
    return record.status
