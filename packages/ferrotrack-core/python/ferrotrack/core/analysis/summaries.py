"""Per-metric summaries of many runs, read in one polars scan and combined across ranks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from ferrotrack.core.store.catalog import RunRef, combine_summaries, summary_schema

__all__ = ["read_run_summary", "read_summaries"]


def read_summaries(
    refs: Sequence[RunRef], *, name: str | None = None, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """Combined summaries of ``refs``: a ``run_idx`` column (index into ``refs``), then
    name and the summary columns (count, first, last, min, max, first_step, last_step,
    last_timestamp, nan_count; or only ``columns``, which decodes less).

    The native store reads every summary file on every core (one small Parquet file per
    rank of each run is what makes listing many runs slow); ranks are then combined as
    ``docs/format.md`` says.
    """
    from ferrotrack.core._native import read_summaries as read_native

    wanted = None if columns is None else _with_dependencies(columns)
    table = read_native([ref.folder for ref in refs], name, wanted)
    frame = pl.DataFrame(table)
    if frame.is_empty():
        types = summary_schema()
        schema = types if wanted is None else {c: types[c] for c in frame.columns[2:]}
        return pl.DataFrame(schema={"run_idx": pl.Int64, **schema})
    if frame.get_column("rank").n_unique() == 1:
        # One writer per run (the usual case): nothing to combine.
        return frame.drop("rank")
    return combine_summaries(frame.lazy(), ["run_idx"]).collect()


def read_run_summary(run_path: str | Path) -> pl.DataFrame:
    """The per-metric summary of one run, ranks combined (see :func:`read_summaries`)."""
    ref = RunRef("", "", str(run_path))
    return read_summaries([ref]).drop("run_idx")


def _with_dependencies(columns: Sequence[str]) -> list[str]:
    """``columns`` plus what combining ranks needs to compute them."""
    out = list(columns)
    if {"last", "last_step"} & set(out) and "last_timestamp" not in out:
        out.append("last_timestamp")
    return out
