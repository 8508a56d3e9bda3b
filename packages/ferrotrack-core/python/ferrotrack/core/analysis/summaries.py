"""Per-metric summaries of many runs, read in one polars scan and combined across ranks."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from ferrotrack.core.store.catalog import RunRef, combine_summaries, summary_paths

__all__ = ["read_summaries"]


def read_summaries(refs: Sequence[RunRef], *, name: str | None = None) -> pl.DataFrame:
    """Combined summaries of ``refs``: a ``run_idx`` column (index into ``refs``), then
    name, count, first, last, min, max, first_step, last_step, last_timestamp, nan_count.

    One scan over every summary file; the file path maps each row back to its run and rank,
    so nothing depends on how hive parsing decodes folder names.
    """
    idx: list[int] = []
    ranks: list[int] = []
    paths: list[str] = []
    for i, ref in enumerate(refs):
        for rank, path in summary_paths(ref.path).items():
            idx.append(i)
            ranks.append(rank)
            paths.append(str(path))
    if not paths:
        return pl.DataFrame(schema={"run_idx": pl.Int64, **_SCHEMA})
    owners = pl.LazyFrame(
        {"_path": paths, "run_idx": idx, "rank": ranks},
        schema={"_path": pl.String, "run_idx": pl.Int64, "rank": pl.Int64},
    )
    # Collected before filtering on name: a predicate pushed into a scan of thousands of
    # tiny files makes polars slower, not faster (measured with bench/analysis.py).
    frame = pl.scan_parquet(paths, hive_partitioning=False, include_file_paths="_path").collect()
    if name is not None:
        frame = frame.filter(pl.col("name") == name)
    joined = frame.lazy().join(owners, on="_path", how="left").drop("_path")
    return combine_summaries(joined, ["run_idx"]).collect()


_SCHEMA = {
    "name": pl.String(),
    "count": pl.Int64(),
    "first": pl.Float64(),
    "last": pl.Float64(),
    "min": pl.Float64(),
    "max": pl.Float64(),
    "first_step": pl.Int64(),
    "last_step": pl.Int64(),
    "last_timestamp": pl.Datetime("ns", "UTC"),
    "nan_count": pl.Int64(),
}
