"""Every point of a store as one polars LazyFrame, read straight from the segment files.

The segment files hold ``name, step, timestamp, value``; the experiment, run and rank of a
point are in the file's path. polars' own multi-file scan adds them as hive columns and
literals, one scan per (experiment, rank), which costs about half again the reading of the
points. This module reads the files once, in one threaded pyarrow scan, and builds the
three path columns from per-file codes repeated by the files' row counts: one integer array
each, no strings per row.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from ferrotrack.core.analysis._select import Experiments, Root, RunsArg, select_runs
from ferrotrack.core.errors import StoreCorruptError
from ferrotrack.core.store.catalog import RunRef

if TYPE_CHECKING:
    import pyarrow as pa

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

_FILE_COLUMNS = ("name", "step", "timestamp", "value")
_PATH_COLUMNS = frozenset({"experiment", "run_id", "rank"})


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


@dataclass(frozen=True, slots=True)
class _Segments:
    """The live segment files of some runs, in reading order, with what their paths say."""

    paths: list[str]
    experiments: list[str]
    run_ids: list[str]
    ranks: list[int]
    refs: tuple[RunRef, ...] = ()
    """The runs listed, so that a reader can list them again (see :func:`_relist`)."""

    def take(self, files: Iterable[int]) -> _Segments:
        """The segments at these positions, in this order."""
        kept = list(files)
        return _Segments(
            [self.paths[i] for i in kept],
            [self.experiments[i] for i in kept],
            [self.run_ids[i] for i in kept],
            [self.ranks[i] for i in kept],
            self.refs,
        )


def _list_segments(refs: Iterable[RunRef]) -> _Segments:
    """The live segments of ``refs`` now, in reading order (the store crate decides which
    files a compaction superseded)."""
    from ferrotrack.core._native import live_segments

    refs = tuple(refs)
    segments = _Segments([], [], [], [], refs)
    for ref in refs:
        live, _ = live_segments(ref.folder)
        for rank, _lo, _hi, path in live:
            segments.paths.append(str(path))
            segments.experiments.append(ref.experiment)
            segments.run_ids.append(ref.run_id)
            segments.ranks.append(rank)
    return segments


def scan_segments(refs: Iterable[RunRef]) -> pl.LazyFrame:
    """The points of the live segments of ``refs`` as a LazyFrame with :data:`POINT_SCHEMA`.

    The file list is taken now; the files are read when the frame is collected, only the
    columns the query uses (a query that needs no file column reads only the footers).
    """
    segments = _list_segments(refs)
    if not segments.paths:
        return pl.LazyFrame(schema=POINT_SCHEMA)
    return pl.io.plugins.register_io_source(
        partial(_read, segments),
        schema=POINT_SCHEMA,
        explain_name="ferrotrack segments",
        explain_detail=f"{len(segments.paths)} files",
    )


def _read(
    segments: _Segments,
    with_columns: list[str] | None,
    predicate: pl.Expr | None,
    n_rows: int | None,
    _batch_size: int | None,
) -> Iterator[pl.DataFrame]:
    """The io-source callback: read what the query uses, add the path columns, filter, cut.

    polars applies neither the predicate nor ``n_rows`` after a Python source, so this does.
    A run may be written while it is read: when a segment listed at scan time has gone (a
    compaction merged it into a new file and deleted it), the runs are listed again and
    the read starts over, so a live read never fails on a compaction and never loses or
    repeats points.
    """
    columns = list(POINT_SCHEMA.names()) if with_columns is None else with_columns
    by_files: pl.Expr | None = None
    if predicate is not None and set(predicate.meta.root_names()) <= _PATH_COLUMNS:
        by_files, predicate = predicate, None
    needed = set(columns)
    if predicate is not None:
        needed.update(predicate.meta.root_names())
    file_columns = [c for c in _FILE_COLUMNS if c in needed]
    for attempt in range(_LIVE_RETRIES + 1):
        chosen = segments if by_files is None else _files_matching(segments, by_files)
        try:
            frame, file_index, lengths = _read_files(chosen.paths, file_columns, n_rows)
            break
        except _SegmentVanished as vanished:
            if attempt == _LIVE_RETRIES or not segments.refs:
                raise StoreCorruptError(
                    f"metrics(): segment {vanished.path} vanished and the run kept changing "
                    f"over {_LIVE_RETRIES} new listings"
                ) from None
            segments = _list_segments(segments.refs)
    segments = chosen
    frame = _add_path_columns(frame, segments, needed, file_index, lengths)
    if predicate is not None:
        frame = frame.filter(predicate)
    if n_rows is not None:
        frame = frame.head(n_rows)
    yield frame.select(columns)


_LIVE_RETRIES = 50
"""New listings a read may take while compactions keep replacing the files it listed."""


class _SegmentVanished(Exception):
    """A listed segment no longer exists (a compaction replaced it)."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def _vanished(paths: list[str]) -> str | None:
    """The first of ``paths`` that no longer exists, if any."""
    return next((p for p in paths if not os.path.exists(p)), None)


def _files_matching(segments: _Segments, predicate: pl.Expr) -> _Segments:
    """The files whose experiment, run_id and rank pass ``predicate``, which names no other
    column: every row of a file shares those, so the filter acts on files, and the files it
    rejects are never opened (``metrics().filter(pl.col("run_id") == ...)``)."""
    files = pl.DataFrame(
        {
            "experiment": segments.experiments,
            "run_id": segments.run_ids,
            "rank": segments.ranks,
        },
        schema={name: POINT_SCHEMA[name] for name in ("experiment", "run_id", "rank")},
    )
    return segments.take(
        files.with_row_index("_file").filter(predicate).get_column("_file").to_list()
    )


def _read_files(
    paths: list[str], columns: list[str], n_rows: int | None
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """The chosen columns of every file, in order, with each chunk's file and row count.

    pyarrow reads the files on its own threads. With no columns it reads only the
    footers' row counts, and the frame has no columns but the right height.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    from ferrotrack.core.plugins.arrow import point_schema

    schema = point_schema()
    wanted = pa.schema([schema.field(c) for c in columns])
    position = {path: i for i, path in enumerate(paths)}
    batches: list[pa.RecordBatch] = []
    file_index: list[int] = []
    rows = 0
    try:
        dataset = ds.dataset(paths, schema=schema, format="parquet")
        scanner = dataset.scanner(columns=columns, memory_pool=_memory_pool())
        for tagged in scanner.scan_batches():
            batch = tagged.record_batch
            if batch.num_rows:
                batches.append(batch)
                file_index.append(position[tagged.fragment.path])
                rows += batch.num_rows
                if n_rows is not None and rows >= n_rows:
                    break
    except (OSError, pa.ArrowException) as exc:
        gone = _vanished(paths)
        if gone is not None:  # a compaction replaced it: not corrupt, listed too early
            raise _SegmentVanished(gone) from exc
        if isinstance(exc, pa.ArrowInvalid):
            message = f"metrics(): a segment is not a readable Parquet file: {exc}"
            raise StoreCorruptError(message) from exc
        raise
    lengths = np.fromiter((b.num_rows for b in batches), np.int64, len(batches))
    if columns:
        frame = pl.from_arrow(pa.Table.from_batches(batches, schema=wanted), rechunk=False)
        assert isinstance(frame, pl.DataFrame)
    else:
        frame = pl.DataFrame({"_": np.zeros(rows, np.int8)}).drop("_")
    return frame, np.asarray(file_index, np.int64), lengths


def _memory_pool() -> pa.MemoryPool:
    """pyarrow's jemalloc pool where the wheel has one.

    Measured on Linux against the default (mimalloc): a third less peak memory and
    steadier times, since mimalloc's huge pages stall on the kernel's compaction.
    """
    import pyarrow as pa

    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool()


def _add_path_columns(
    frame: pl.DataFrame,
    segments: _Segments,
    needed: set[str],
    file_index: np.ndarray,
    lengths: np.ndarray,
) -> pl.DataFrame:
    """Adds the experiment, run_id and rank of each row, as far as ``needed`` asks.

    Each distinct string is encoded once, per file; rows get their file's code by
    :func:`_repeat`. Both categorical columns are made in one ``with_columns`` so polars
    checks their codes on parallel threads. ``categories`` holds the encoded strings until
    then: polars drops its global categories once no Series or dtype refers to them, and
    the codes alone would then name nothing.
    """
    per_file = {"experiment": segments.experiments, "run_id": segments.run_ids}
    categories = {
        name: pl.Series(name, values, dtype=pl.Categorical())
        for name, values in per_file.items()
        if name in needed
    }
    codes = [
        _chunked_like(
            pl.Series(name, _repeat(cats.cat.physical().to_numpy()[file_index], lengths)),
            lengths,
        )
        for name, cats in categories.items()
    ]
    frame = frame.with_columns(codes).with_columns(
        pl.col(name).cat.to(pl.Categorical()) for name in categories
    )
    categories.clear()
    if "rank" in needed:
        frame = frame.with_columns(_rank_column(segments.ranks, file_index, lengths))
    return frame


def _repeat(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``np.repeat(values, lengths)`` written into memory mapped in one system call.

    A code column of 100 M rows is 400 MB of fresh memory. Faulted in page by page it
    costs ≈ 2 µs a page on a VM; numpy's huge pages are fast until the kernel has to
    compact memory for them, which stalls for a second. ``MAP_POPULATE`` maps it all at
    once, at a steady cost. Where the OS lacks it, plain ``np.repeat``.
    """
    total = int(lengths.sum())
    populate = getattr(mmap, "MAP_POPULATE", None)
    if populate is None or total == 0:
        return np.repeat(values, lengths)
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate
    out = np.frombuffer(mmap.mmap(-1, total * values.itemsize, flags=flags), values.dtype)
    offset = 0
    for value, n in zip(values.tolist(), lengths.tolist(), strict=True):
        out[offset : offset + n] = value
        offset += n
    return out


def _rank_column(ranks: list[int], file_index: np.ndarray, lengths: np.ndarray) -> pl.Expr:
    """The rank of each row: a literal when every file has the same rank (the usual case)."""
    per_file = np.asarray(ranks, np.int32)[file_index]
    if per_file.size == 0 or (per_file == per_file[0]).all():
        return pl.lit(int(per_file[0]) if per_file.size else 0, pl.Int32()).alias("rank")
    return pl.lit(_chunked_like(pl.Series("rank", _repeat(per_file, lengths)), lengths))


def _chunked_like(series: pl.Series, lengths: np.ndarray) -> pl.Series:
    """``series`` cut into chunks of ``lengths`` rows (zero-copy slices), aligned with the
    frame's chunks so that adding it to the frame does not rechunk the frame."""
    out: pl.Series | None = None
    offset = 0
    for n in lengths.tolist():
        piece = series.slice(offset, n)
        out = piece if out is None else out.append(piece)
        offset += n
    return series if out is None else out
