"""Every point of a store as one polars LazyFrame, read straight from the segment files."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import polars as pl

from ferrotrack.core.analysis._select import Experiments, Root, RunsArg, select_runs
from ferrotrack.core.store.catalog import RunRef

__all__ = ["POINT_SCHEMA", "metrics", "scan_segments"]

POINT_SCHEMA = pl.Schema(
    {
        "experiment": pl.Categorical(),
        "run_id": pl.Categorical(),
        "rank": pl.Int32(),
        "name": pl.Categorical(),
        "step": pl.Int64(),
        "timestamp": pl.Datetime("ns", "UTC"),
        "value": pl.Float64(),
    }
)
"""Columns of :func:`metrics`, in order."""

_HIVE = {"experiment": pl.Categorical(), "run": pl.Categorical()}


def metrics(
    root: Root = None,
    *,
    experiment: Experiments = None,
    runs: RunsArg = None,
    names: str | Iterable[str] | None = None,
) -> pl.LazyFrame:
    """Every point of the chosen runs: experiment, run_id, rank, name, step, timestamp, value.

    Only the segment files of the chosen experiments and runs are scanned (the filters act
    on folders, not rows), and segments that a compaction already merged are skipped by
    their file names, so each point comes once. Rows come per run, then per rank in logged
    order. The file list is taken now: collect soon when runs are still being written.

    >>> metrics(experiment="cifar10", names=["train/loss"]).collect()  # doctest: +SKIP
    """
    frame = scan_segments(select_runs(root, experiment, runs))
    if names is not None:
        wanted = [names] if isinstance(names, str) else list(names)
        frame = frame.filter(pl.col("name").cast(pl.String).is_in(wanted))
    return frame


def scan_segments(refs: Iterable[RunRef]) -> pl.LazyFrame:
    """One scan per (experiment, rank) over the live segments of ``refs``.

    The ``run`` column comes from the hive folder name; ``experiment`` and ``rank`` are
    literals, since hive parsing would percent-decode experiment names.
    """
    from ferrotrack.core._native import live_segments

    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    for ref in refs:
        live, _ = live_segments(ref.folder)
        for rank, _lo, _hi, path in live:
            groups[(ref.experiment, rank)].append(path)
    if not groups:
        return pl.LazyFrame(schema=POINT_SCHEMA)
    scans = [
        pl.scan_parquet(paths, hive_partitioning=True, hive_schema=_HIVE)
        .with_columns(
            experiment=pl.lit(experiment, pl.Categorical()),
            rank=pl.lit(rank, pl.Int32()),
        )
        .rename({"run": "run_id"})
        .select(POINT_SCHEMA.names())
        for (experiment, rank), paths in groups.items()
    ]
    return scans[0] if len(scans) == 1 else pl.concat(scans, how="vertical")
