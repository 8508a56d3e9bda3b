"""Answers to the questions asked most: the best run, final values, a per-step wide table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import polars as pl

from ferrotrack.core.analysis._select import Experiments, Root, RunsArg, select_runs
from ferrotrack.core.analysis.points import metrics
from ferrotrack.core.analysis.summaries import read_summaries
from ferrotrack.core.analysis.table import runs as runs_table
from ferrotrack.core.errors import InvalidArgumentError, RunNotFoundError

__all__ = ["best_run", "final_values", "wide"]


def final_values(
    metric: str,
    root: Root = None,
    *,
    experiment: Experiments = None,
    runs: RunsArg = None,
) -> pl.DataFrame:
    """The last value of ``metric`` in every run that logged it, from the summaries.

    Columns: experiment, run_id, name, value, step, timestamp. With several ranks, the
    rank whose last point is latest wins (``docs/format.md``).

    >>> final_values("val/acc", experiment="cifar10").sort("value")  # doctest: +SKIP
    """
    refs = select_runs(root, experiment, runs)
    summary = read_summaries(refs, name=metric, columns=["last", "last_step", "last_timestamp"])
    owners = pl.DataFrame(
        {
            "run_idx": range(len(refs)),
            "experiment": [r.experiment for r in refs],
            "run_id": [r.run_id for r in refs],
        },
        schema={"run_idx": pl.Int64, "experiment": pl.String, "run_id": pl.String},
    )
    return owners.join(summary, on="run_idx", how="inner", maintain_order="left").select(
        "experiment",
        "run_id",
        "name",
        pl.col("last").alias("value"),
        pl.col("last_step").alias("step"),
        pl.col("last_timestamp").alias("timestamp"),
    )


def best_run(
    metric: str,
    root: Root = None,
    *,
    mode: Literal["min", "max"] = "min",
    by: Literal["best", "last"] = "best",
    experiment: Experiments = None,
    status: str | Iterable[str] | None = None,
) -> pl.DataFrame:
    """The row of :func:`runs` for the run with the lowest (``mode="min"``) or highest value.

    ``by="best"`` ranks runs by the extreme ever logged (``<metric>.min`` / ``.max``),
    ``by="last"`` by the final value. Raises :class:`RunNotFoundError` when no run has it.

    >>> best_run("val/acc", mode="max", experiment="cifar10")["run_id"][0]  # doctest: +SKIP
    """
    if mode not in ("min", "max"):
        raise InvalidArgumentError(f"mode {mode!r}: expected 'min' or 'max'")
    if by not in ("best", "last"):
        raise InvalidArgumentError(f"by {by!r}: expected 'best' or 'last'")
    table = runs_table(root, experiment=experiment, status=status)
    column = f"{metric}.{mode if by == 'best' else 'last'}"
    if column not in table.columns:
        raise RunNotFoundError(f"no run has logged metric {metric!r}")
    ranked = table.filter(pl.col(column).is_not_null() & pl.col(column).is_not_nan())
    if ranked.is_empty():
        raise RunNotFoundError(f"no run has a value of metric {metric!r} that is not NaN")
    return ranked.sort(column, descending=mode == "max", maintain_order=True).head(1)


def wide(
    runs: RunsArg,
    names: str | Iterable[str],
    root: Root = None,
    *,
    experiment: Experiments = None,
) -> pl.DataFrame:
    """One row per step, one column ``<run_id>:<metric>`` per run and metric.

    Where a step was logged more than once, the last logged point wins (latest timestamp,
    then latest in file order), as ``docs/format.md`` says. Steps a run lacks are null.

    >>> wide(["0193ab", "0193cd"], ["val/loss"])  # doctest: +SKIP
    """
    wanted = [names] if isinstance(names, str) else list(names)
    refs = select_runs(root, experiment, runs)
    columns = [f"{r.run_id}:{n}" for r in refs for n in wanted]
    points = (
        metrics(root, runs=_as_frame(refs), names=wanted)
        .with_row_index("_i")
        .group_by("run_id", "name", "step")
        .agg(pl.col("value").sort_by("timestamp", "_i").last())
        .select(
            "step",
            pl.concat_str(
                pl.col("run_id").cast(pl.String), pl.lit(":"), pl.col("name").cast(pl.String)
            ).alias("_column"),
            "value",
        )
        .collect()
    )
    if points.is_empty():
        return pl.DataFrame(schema={"step": pl.Int64, **{c: pl.Float64 for c in columns}})
    table = points.pivot(on="_column", index="step", values="value", on_columns=columns)
    return table.sort("step").select("step", *columns)


def _as_frame(refs: list) -> pl.DataFrame:  # type: ignore[type-arg]
    return pl.DataFrame(
        {"experiment": [r.experiment for r in refs], "run_id": [r.run_id for r in refs]},
        schema={"experiment": pl.String, "run_id": pl.String},
    )
