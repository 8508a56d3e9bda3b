"""metrics() against a reference built file by file with pyarrow, under the queries that
polars pushes into the reader: projections, filters on path columns, limits, counts."""

from __future__ import annotations

import mmap
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrotrack.core.analysis as fa
from ferrotrack.core.analysis.points import POINT_SCHEMA, _repeat
from ferrotrack.core.errors import StoreCorruptError
from ferrotrack.core.store.layout import new_run_id

if TYPE_CHECKING:
    from tests.core.conftest import MakeRun

ORDER = ["experiment", "run_id", "rank"]


def reference(store: Path) -> pl.DataFrame:
    """Every point, read file by file with pyarrow; path columns parsed from the folders."""
    frames = []
    for path in sorted(store.glob("experiment=*/run=*/metrics/part-*.parquet")):
        table = pq.read_table(path)
        frames.append(
            pl.from_arrow(table).with_columns(  # type: ignore[union-attr]
                experiment=pl.lit(path.parents[2].name.removeprefix("experiment=")),
                run_id=pl.lit(path.parents[1].name.removeprefix("run=")),
                rank=pl.lit(int(path.name.split("-")[1]), pl.Int32()),
            )
        )
    if not frames:
        return pl.DataFrame(schema=POINT_SCHEMA).pipe(as_text)
    return pl.concat(frames).select(POINT_SCHEMA.names()).pipe(as_text)


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Categoricals as strings, rows in a stable order per (experiment, run, rank)."""
    frame = frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
    present = [c for c in ORDER if c in frame.columns]
    return frame.sort(present, maintain_order=True) if present else frame


QUERIES: dict[str, Callable[[pl.LazyFrame], pl.LazyFrame]] = {
    "all": lambda f: f,
    "run and value": lambda f: f.select("run_id", "value"),
    "rank 1 only": lambda f: f.filter(pl.col("rank") == 1),
    "one experiment's steps": lambda f: f.filter(pl.col("experiment") == "b").select("step"),
    "path columns only": lambda f: f.select("experiment", "run_id", "rank"),
    "path or value": lambda f: f.filter((pl.col("experiment") == "a") | (pl.col("value") > 2000)),
    "no run": lambda f: f.filter(pl.col("run_id") == "none").select("value"),
    "count": lambda f: f.select(pl.len()),
    "count per run": lambda f: f.group_by("run_id").len().sort("run_id"),
}

runs_strategy = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c%41"]),
        st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
        st.integers(0, 40),
        st.integers(1, 3),
    ),
    min_size=0,
    max_size=5,
)


@settings(max_examples=25, deadline=None)
@given(runs=runs_strategy)
def test_metrics_matches_a_file_by_file_read_under_every_query(
    make_run: MakeRun, store: Path, runs: list[tuple[str, list[int], int, int]]
) -> None:
    shutil.rmtree(store)
    store.mkdir()
    for i, (experiment, ranks, n, flushes) in enumerate(runs):
        run_id = new_run_id()
        for rank in sorted(ranks, reverse=True):
            points = [(f"m{k % 3}", float(i * 1000 + k), None) for k in range(n + rank)]
            make_run(points, experiment=experiment, rank=rank, run_id=run_id, flushes=flushes)
    expected = reference(store).lazy()
    for label, query in QUERIES.items():
        got = query(fa.metrics(store)).collect()
        want = query(expected).collect()
        assert as_text(got).equals(as_text(want)), label
    assert fa.metrics(store).collect_schema() == POINT_SCHEMA


@pytest.mark.parametrize("limit", [0, 1, 7, 25, 1000])
def test_head_returns_exactly_the_first_rows(make_run: MakeRun, store: Path, limit: int) -> None:
    for experiment in ("a", "b"):
        make_run([("x", float(k), None) for k in range(10)], experiment=experiment, flushes=3)
    everything = fa.metrics(store).collect()
    assert fa.metrics(store).head(limit).collect().equals(everything.head(limit))


def test_segments_written_with_int32_name_keys_still_read(make_run: MakeRun, store: Path) -> None:
    """Segments from before the uint32 dictionary keys sit beside current ones in one scan."""
    current = make_run([("x", 1.0, 0)])
    old = make_run([("y", 2.0, 0)])
    segment = next((old / "metrics").glob("part-*.parquet"))
    table = pq.read_table(segment)
    name = table.column("name").cast(pa.dictionary(pa.int32(), pa.string()))
    pq.write_table(table.set_column(0, pa.field("name", name.type, nullable=False), name), segment)
    got = fa.metrics(store).collect().sort("value")
    assert got.get_column("name").cast(str).to_list() == ["x", "y"]
    assert got.get_column("run_id").cast(str).to_list() == [
        current.name.removeprefix("run="),
        old.name.removeprefix("run="),
    ]
    assert got.schema == POINT_SCHEMA


def test_query_plan_names_the_reader(make_run: MakeRun, store: Path) -> None:
    make_run([("x", 1.0, 0)])
    assert "ferrotrack segments" in fa.metrics(store).explain()


def test_path_columns_alone_in_a_fresh_interpreter(make_run: MakeRun, store: Path) -> None:
    """Run ids the process has never seen, and no file read at all (only footers): the codes
    built for them must name categories polars still holds when they are converted."""
    folders = [make_run([("x", 1.0, 0)], experiment=f"e{i}") for i in range(3)]
    script = (
        "import sys, ferrotrack.core.analysis as fa\n"
        "frame = fa.metrics(sys.argv[1]).select('experiment', 'run_id').collect()\n"
        "print(sorted(frame.get_column('run_id').cast(str).to_list()))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(store)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted(f.name.removeprefix("run=") for f in folders))


@given(
    runs=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 50)), max_size=20),
    populate=st.booleans(),
)
def test_codes_are_repeated_like_numpy_with_and_without_map_populate(
    runs: list[tuple[int, int]], populate: bool
) -> None:
    values = np.array([v for v, _ in runs], np.uint32)
    lengths = np.array([n for _, n in runs], np.int64)
    with pytest.MonkeyPatch.context() as patch:
        if not populate:
            patch.delattr(mmap, "MAP_POPULATE", raising=False)
        got = _repeat(values, lengths)
    assert got.dtype == np.uint32
    assert np.array_equal(got, np.repeat(values, lengths))


def test_a_filter_on_run_id_opens_only_that_runs_files(make_run: MakeRun, store: Path) -> None:
    kept = make_run([("x", 1.0, 0), ("x", 2.0, 1)])
    other = make_run([("x", 3.0, 0)])
    next((other / "metrics").glob("part-*.parquet")).write_bytes(b"not parquet")
    run_id = kept.name.removeprefix("run=")
    got = fa.metrics(store).filter(pl.col("run_id") == run_id).collect()
    assert got.get_column("value").to_list() == [1.0, 2.0]
    assert fa.metrics(store).filter(pl.col("run_id") == "nothing").collect().height == 0
    # The broken file is read when the filter lets it in, and named in a typed error.
    with pytest.raises(StoreCorruptError, match=r"not a readable Parquet file: .*part-00000"):
        fa.metrics(store).filter(pl.col("value") > 0).collect()
