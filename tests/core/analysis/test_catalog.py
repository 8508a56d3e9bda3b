"""The read side of the store: listing, statuses, finding runs, combined summaries."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.analysis.summaries import read_run_summary
from ferrotrack.core.errors import InvalidArgumentError, RunNotFoundError
from ferrotrack.core.store import catalog

if TYPE_CHECKING:
    from tests.core.conftest import MakeRun


def test_lists_runs_with_filters(make_run: MakeRun, store: Path) -> None:
    a = make_run([("x", 1.0, 0)], experiment="a")
    make_run([("x", 1.0, 0)], experiment="b", status="failed")
    assert [r.ref.path for r in catalog.list_runs(store, experiment="a")] == [a]
    assert [r.status for r in catalog.list_runs(store, status="failed")] == ["failed"]
    with pytest.raises(InvalidArgumentError, match="status"):
        catalog.list_runs(store, status="bogus")


def test_running_run_of_a_dead_process_reads_as_crashed() -> None:
    now = time.time_ns()
    alive = {
        "status": "running",
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "heartbeat": now,
        "flush_interval": 1.0,
    }
    assert catalog.effective_status(alive, now_ns=now) == "running"
    dead = {**alive, "pid": 2**22 + 12345}
    assert catalog.effective_status(dead, now_ns=now) == "crashed"
    far = {**alive, "host": "elsewhere"}
    assert catalog.effective_status(far, now_ns=now + 14 * 10**9) == "running"
    assert catalog.effective_status(far, now_ns=now + 16 * 10**9) == "crashed"
    slow = {**far, "flush_interval": 10.0}  # limit max(30, 10) + 5 s
    assert catalog.effective_status(slow, now_ns=now + 34 * 10**9) == "running"
    assert catalog.effective_status(slow, now_ns=now + 36 * 10**9) == "crashed"
    assert catalog.effective_status({**dead, "status": "finished"}) == "finished"


def test_find_run_by_id_prefix_and_name(make_run: MakeRun, store: Path) -> None:
    folder = make_run(name="alpha")
    rid = folder.name.removeprefix("run=")
    assert catalog.find_run(rid, store).path == folder
    assert catalog.find_run(rid[:20], store).path == folder
    assert catalog.find_run("alpha", store).path == folder
    assert catalog.find_run(f"exp/{rid}", store).path == folder
    with pytest.raises(RunNotFoundError, match="no run matches"):
        catalog.find_run("ffff", store)


def test_ambiguous_prefix_is_refused(make_run: MakeRun, store: Path) -> None:
    make_run(run_id="ab" + "0" * 30)
    make_run(run_id="ab" + "1" * 30)
    with pytest.raises(RunNotFoundError, match="matches 2 runs"):
        catalog.find_run("ab", store)


def test_covered_segments_are_skipped_by_name(tmp_path: Path) -> None:
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    for name in [
        "part-00000-0000000001.parquet",
        "part-00000-0000000002.parquet",
        "part-00000-0000000001-0000000002.parquet",
        "part-00000-0000000003.parquet",
        "part-00001-0000000001.parquet",
        ".part-00000-0000000004.parquet.tmp",
    ]:
        (metrics / name).write_bytes(b"")
    live, covered = catalog.live_segments(tmp_path)
    assert [(s.rank, s.lo, s.hi) for s, _ in live] == [(0, 1, 2), (0, 3, 3), (1, 1, 1)]
    assert sorted(p.name for p in covered) == [
        "part-00000-0000000001.parquet",
        "part-00000-0000000002.parquet",
    ]


def write_later_rank(folder: Path, rank: int, points: list[tuple[str, float, int]]) -> None:
    """Writes ``rank`` with timestamps a second after now: it is the latest rank by its
    clock, with no sleep."""
    later = time.time_ns() + 1_000_000_000
    with MetricWriter(folder, rank=rank, background=False, durability="none") as writer:
        for i, (name, value, step) in enumerate(points):
            writer.log(name, value, step=step, timestamp=later + i)


def test_summaries_of_ranks_combine(make_run: MakeRun) -> None:
    folder = make_run([("m", 5.0, 0), ("m", 1.0, 1)])
    write_later_rank(folder, 2, [("m", 9.0, 7), ("m", 3.0, 8)])
    s = read_run_summary(folder).row(0, named=True)
    assert (s["count"], s["min"], s["max"], s["last"], s["last_step"]) == (4, 1.0, 9.0, 3.0, 8)


def test_flatten_and_atomic_json(tmp_path: Path) -> None:
    assert catalog.flatten({"a": {"b": 1, "c": {"d": 2}}, "e": {}}) == {
        "a.b": 1,
        "a.c.d": 2,
        "e": {},
    }
    path = tmp_path / "run.json"
    catalog.write_json_atomic(path, {"status": "crashed"})
    assert json.loads(path.read_text()) == {"status": "crashed"}
    assert not list(tmp_path.glob(".*.tmp"))


def test_final_value_of_ranks_is_the_latest_rank(make_run: MakeRun, store: Path) -> None:
    """final_values reads only the columns it needs and still combines ranks."""
    from ferrotrack.core.analysis import final_values

    folder = make_run([("m", 5.0, 0), ("m", 1.0, 1)])
    rid = folder.name.removeprefix("run=")
    write_later_rank(folder, 2, [("m", 9.0, 7), ("m", 3.0, 8)])
    got = final_values("m", store).row(0, named=True)
    assert (got["run_id"], got["value"], got["step"]) == (rid, 3.0, 8)


def test_summary_columns_are_checked(make_run: MakeRun) -> None:
    import polars as pl

    from ferrotrack.core._native import read_summaries

    folder = make_run([("m", 5.0, 0)])
    table = pl.DataFrame(read_summaries([folder], "m", ["max"]))
    assert table.columns == ["run_idx", "rank", "name", "max"]
    assert table.row(0) == (0, 0, "m", 5.0)
    with pytest.raises(InvalidArgumentError, match="unknown summary column 'maxx'"):
        read_summaries([folder], None, ["maxx"])
