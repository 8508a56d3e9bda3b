"""``Experiment.results()`` and ``Experiment.status()`` as polars tables.

Both read the store, never the running process, so they answer the same from a notebook,
the CLI, or after a crash. ``results`` takes parameters and final metrics from core's
``runs()`` table, so a trial run compares exactly as ``ft.runs()`` shows it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import polars as pl

from ferrotrack.core.store.catalog import RunRecord
from ferrotrack.experiment.runs import StoredExperiment, find_experiment, state_of

__all__ = ["results_table", "status_table"]

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
    repeat, run_id, status, ``params.*`` and each metric's last value under its own name.

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
    extra = table.select(
        "run_id", *[pl.col(c).alias(c.removesuffix(".last")) for c in wanted if c != "run_id"]
    )
    return base.join(extra, on="run_id", how="left", maintain_order="left")


def _latest_attempts(stored: StoredExperiment) -> list[tuple[str, int, RunRecord]]:
    return [(trial, repeat, runs[-1]) for (trial, repeat), runs in stored.attempts.items()]


def _status(record: RunRecord) -> str:
    state = state_of(record)
    if state == "done":
        return "completed"
    if state == "stopped":
        return "stopped"
    return record.status
