"""The data layer against real stores: rows, filters, sort, detail, series and cursors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import store_fixtures as sf
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.ui.data import (
    RunsQuery,
    compare,
    list_experiments,
    parallel,
    run_detail,
    runs_page,
    series,
)
from ferrotrack.ui.data.downsample import minmax_indices
from ferrotrack.ui.data.series import decode_cursor, encode_cursor
from ferrotrack.ui.errors import NotFound


def test_rows_match_ft_runs(root: Path) -> None:
    sf.make_runs(root, 5)
    page = runs_page(root, RunsQuery(sort="name", desc=False))
    table = ft.runs(root=root).sort("name")
    assert page["total"] == 5
    assert [r["run_id"] for r in page["runs"]] == table["run_id"].to_list()
    row = page["runs"][2]
    assert row["params"] == {"optim.lr": 0.001, "optim.name": "adam", "layers": 4}
    assert row["tags"] == {"team": "red", "seed": "2"}
    assert row["metrics"]["train/loss"] == {"last": 3 / 20, "min": 3 / 20, "max": 3.0,
                                            "count": 20, "last_step": 19}  # fmt: skip
    assert page["columns"] == {
        "params": ["layers", "optim.lr", "optim.name"],
        "metrics": ["train/loss", "val/acc"],
        "tags": ["seed", "team"],
    }
    json.dumps(page, allow_nan=False)


def test_filters_sort_and_page(root: Path) -> None:
    built = sf.make_runs(root, 6)
    sf.failed_run(root, experiment="other")
    q = RunsQuery(tags={"team": "blue"}, sort="metrics.train/loss.max", desc=True)
    assert [r["name"] for r in runs_page(root, q)["runs"]] == ["run-5", "run-3", "run-1"]
    q = RunsQuery(params={"optim.lr": (0.005, 0.5)}, sort="name", desc=False)
    assert [r["name"] for r in runs_page(root, q)["runs"]] == ["run-0", "run-1", "run-4", "run-5"]
    q = RunsQuery(metrics={"train/loss": (None, 0.12)}, sort="name", desc=False)
    assert [r["name"] for r in runs_page(root, q)["runs"]] == ["run-0", "run-1"]
    assert runs_page(root, RunsQuery(status="failed"))["runs"][0]["error"] == "ValueError: boom"
    assert runs_page(root, RunsQuery(experiment="other"))["total"] == 1
    assert [r["name"] for r in runs_page(root, RunsQuery(q="RUN-4"))["runs"]] == ["run-4"]
    assert runs_page(root, RunsQuery(q=built[3].run_id[-10:]))["total"] == 1
    page = runs_page(root, RunsQuery(sort="params.layers", desc=False, offset=2, limit=2))
    assert page["total"] == 7
    assert [r["params"]["layers"] for r in page["runs"]] == [3, 3]
    with pytest.raises(NotFound, match="sort 'bogus'"):
        runs_page(root, RunsQuery(sort="bogus"))
    assert list_experiments(root) == {"experiments": [
        {"name": "exp", "runs": 6, "running": 0, "failed": 0},
        {"name": "other", "runs": 1, "running": 0, "failed": 1}]}  # fmt: skip


def test_since_returns_only_changed_runs(root: Path) -> None:
    sf.make_runs(root, 3)
    first = runs_page(root, RunsQuery())
    again = runs_page(root, RunsQuery(since=first["cursor"]))
    assert again["total"] == 0
    assert again["removed"] == []
    [new] = sf.make_runs(root, 1, experiment="later")
    later = runs_page(root, RunsQuery(since=again["cursor"]))
    assert [r["run_id"] for r in later["runs"]] == [new.run_id]
    assert runs_page(root, RunsQuery(since="stale-3"))["total"] == 4


def test_change_within_one_tick_of_the_clock_is_seen(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run.json rewritten in the same clock tick as the index read it keeps its size and
    times (simulated here by putting them back): the index must still see the change."""
    import os

    from ferrotrack.ui.data import runs as runs_module

    monkeypatch.setattr(runs_module, "_RACY_NS", 600 * 10**9)  # a slow machine's margin
    [run] = sf.make_runs(root, 1)
    first = runs_page(root, RunsQuery())
    assert first["runs"][0]["name"] == "run-0"
    meta = run.folder / "run.json"
    folder_st, meta_st = os.stat(run.folder), os.stat(meta)
    meta.write_text(meta.read_text().replace('"run-0"', '"run-X"'))
    os.utime(meta, ns=(meta_st.st_atime_ns, meta_st.st_mtime_ns))
    os.utime(run.folder, ns=(folder_st.st_atime_ns, folder_st.st_mtime_ns))
    later = runs_page(root, RunsQuery(since=first["cursor"]))
    assert [r["name"] for r in later["runs"]] == ["run-X"]
    assert runs_page(root, RunsQuery(since=later["cursor"]))["runs"] == []  # read, unchanged


def test_running_then_crashed_and_failed(root: Path) -> None:
    run = ft.start_run("live", experiment="exp", root=root)
    run.log("loss", 1.0, step=0)
    assert runs_page(root, RunsQuery())["runs"][0]["status"] == "running"
    run.finish()
    crashed = sf.crashed_run(root)
    failed = sf.failed_run(root)
    detail = run_detail(root, failed.run_id)
    assert detail["run"]["status"] == "failed"
    assert detail["error"] == "ValueError: boom"
    assert 'raise ValueError("boom")' in detail["traceback"]
    assert run_detail(root, crashed.run_id)["run"]["status"] == "crashed"


def test_run_detail(root: Path, tmp_path: Path) -> None:
    built = sf.run_with_artifacts(root, tmp_path / "work")
    [run] = sf.make_runs(root, 1)
    detail = run_detail(root, run.run_id)
    assert detail["params"] == {"optim": {"lr": 0.1, "name": "adam"}, "layers": 2}
    assert [e["kind"] for e in detail["events"]] == ["level_start", "checkpoint"]
    assert detail["events"][1]["data"] == {"file": "model.pt"}
    assert detail["metrics"] == ["train/loss", "val/acc"]
    assert detail["problems"] == []
    files = run_detail(root, built.run_id)
    assert {a["path"]: a["kind"] for a in files["artifacts"]} == {
        "blob.bin": "binary", "notes.txt": "text", "plot.png": "image", "sub/deep.txt": "text",
        "table.csv": "table", "table.parquet": "table"}  # fmt: skip
    assert files["logs"] == ["stdout", "stderr"]
    with pytest.raises(NotFound, match="no run"):
        run_detail(root, "0" * 32)
    with pytest.raises(NotFound):
        run_detail(root, "nothing-like-it")


def test_corrupt_segment_shows_run_with_problem(root: Path) -> None:
    built = sf.corrupt_run(root)
    detail = run_detail(root, built.run_id)
    assert detail["run"]["name"] == "corrupt"
    assert any("Parquet" in p for p in detail["problems"])
    for after in (None, "c"):  # a chart's first read, and a live poll from the start
        answer = series(root, [built.run_id], "loss", after=after)["series"][0]
        assert "part-00000-0000000002.parquet" in answer["problem"]
        assert str(root) not in answer["problem"]
        # the readable segment is still drawn: one bad file does not blank the chart
        assert answer["x"] == list(range(10))
        assert answer["y"] == [float(i) for i in range(10)]
        assert answer["cursor"] == "c0-10"


def test_corrupt_json_files_do_not_hide_other_runs(root: Path) -> None:
    a, b, c = sf.make_runs(root, 3)
    (a.folder / "params.json").write_text("{broken")
    (b.folder / "run.json").write_text("[1, 2]")
    rows = {r["run_id"]: r for r in runs_page(root, RunsQuery(limit=10))["runs"]}
    assert len(rows) == 3
    assert "params.json" in rows[a.run_id]["error"]
    assert rows[a.run_id]["params"] == {}
    assert "run.json" in rows[b.run_id]["error"]
    assert rows[c.run_id]["error"] is None
    assert rows[c.run_id]["params"]["layers"] == 4
    detail = run_detail(root, a.run_id)
    assert detail["problems"][0].startswith("params.json: not valid JSON")
    assert run_detail(root, b.run_id)["problems"][0].startswith("run.json: expected")


def test_series_matches_core_reader_across_ranks_and_compactions(root: Path) -> None:
    """Only the asked name's rows, each once, from every rank, in x order (stable), the
    same points as core's own reader; with 30 flushes the writer compacts meanwhile."""
    import polars as pl

    from ferrotrack.core.analysis.points import metrics

    run = ft.start_run("ranks", experiment="exp", root=root)
    other = ft.start_run(run_id=run.run_id, experiment="exp", root=root, rank=1, resume=True)
    for k in range(30):
        steps = np.arange(k * 50, (k + 1) * 50)
        run.log_array("loss", steps * 1.0, steps=steps)
        run.log_array("acc", -steps * 1.0, steps=steps)
        other.log_array("loss", steps + 0.5, steps=steps[::-1].copy())
        run.flush()
        other.flush()
    other.finish()
    run.finish()
    logged = metrics(root, runs=[run.run_id], names="loss").collect()
    logged = logged.sort("rank", maintain_order=True)  # per rank in logged order
    expect = logged.sort("step", maintain_order=True)
    out = series(root, [run.run_id], "loss", points=100_000)["series"][0]
    assert out["total"] == expect.height == 3000
    assert out["x"] == expect["step"].to_list()
    assert out["y"] == expect["value"].to_list()
    wall = series(root, [run.run_id], "loss", x="wall", points=100_000)["series"][0]
    by_time = logged.sort("timestamp", maintain_order=True)
    ns = by_time["timestamp"].cast(pl.Int64).to_numpy()
    assert wall["x"] == (ns / 1e6).tolist()  # milliseconds since the epoch
    assert wall["y"] == by_time["value"].to_list()
    assert decode_cursor(out["cursor"]) == {0: 3000, 1: 1500}


def test_concurrent_requests_while_runs_are_written(root: Path) -> None:
    """Several threads asking for pages (with ``since``) and series while runs are added
    and logged: no error, and every thread's ``since`` answers, from its first cursor on,
    name every run added (a cursor must never run ahead of the rows its answer holds)."""
    import threading

    [first] = sf.make_runs(root, 1)
    live = ft.start_run("live", experiment="exp", root=root, flush_interval=0.05)
    stop = threading.Event()
    ready = threading.Barrier(5)  # the four threads hold a cursor before runs are added
    errors: list[BaseException] = []
    seen: list[set[str]] = [set() for _ in range(4)]

    def pages(i: int) -> None:
        try:
            cursor = runs_page(root, RunsQuery(limit=0))["cursor"]
            ready.wait(timeout=120)
            while not stop.is_set():
                page = runs_page(root, RunsQuery(since=cursor, limit=10_000))
                seen[i].update(r["run_id"] for r in page["runs"])
                cursor = page["cursor"]
                series(root, [first.run_id, live.run_id], "train/loss", points=50)
            page = runs_page(root, RunsQuery(since=cursor, limit=10_000))
            seen[i].update(r["run_id"] for r in page["runs"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=pages, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    ready.wait(timeout=120)
    added = [b.run_id for b in sf.make_runs(root, 4, experiment="more")]
    for k in range(20):
        live.log("train/loss", float(k), step=k)
        live.flush()
    stop.set()
    for t in threads:
        t.join(timeout=120)
    live.finish()
    assert errors == []
    for got in seen:
        assert set(added) <= got


def test_compare_and_parallel(root: Path) -> None:
    a, b = sf.make_runs(root, 2)
    out = compare(root, [a.run_id, b.run_id])
    assert out["params"]["optim.lr"] == [0.1, 0.01]
    assert out["differing"] == ["layers", "optim.lr", "optim.name"]
    par = parallel(root, "exp", "train/loss", "max")
    assert par["params"] == ["layers", "optim.lr", "optim.name"]
    assert sorted(r["value"] for r in par["rows"]) == [1.0, 2.0]
    with pytest.raises(NotFound, match="no experiment"):
        parallel(root, "nope", "train/loss")
    with pytest.raises(NotFound, match="metric 'nope'"):
        parallel(root, "exp", "nope")


def test_series_full_range_and_zoom(root: Path) -> None:
    built = sf.long_series_run(root, 100_000, chunk=30_000)
    full = series(root, [built.run_id], "loss", points=400)["series"][0]
    assert full["total"] == 100_000
    assert full["downsampled"]
    assert full["returned"] <= 400
    assert full["x"][0] == 0
    assert full["x"][-1] == 99_999
    zoom = series(root, [built.run_id], "loss", x_min=1000, x_max=1099)["series"][0]
    assert zoom["x"] == list(range(1000, 1100))
    assert not zoom["downsampled"]
    wall = series(root, [built.run_id], "acc", x="wall")["series"][0]
    rel = series(root, [built.run_id], "acc", x="relative")["series"][0]
    assert wall["total"] == rel["total"] == 100
    assert all(0 <= t < 60 for t in rel["x"])
    with pytest.raises(NotFound, match="no metric 'nope'"):
        series(root, [built.run_id], "nope")
    with pytest.raises(InvalidArgumentError, match="points"):
        series(root, [built.run_id], "loss", points=2)


def test_series_nan_values_are_null(root: Path) -> None:
    with ft.start_run("nan", experiment="exp", root=root) as run:
        run.log_array("v", np.array([1.0, np.nan, np.inf, 2.0]), steps=np.arange(4))
    out = series(root, [run.run_id], "v")["series"][0]
    assert out["y"] == [1.0, None, None, 2.0]
    json.dumps(out, allow_nan=False)


def test_live_cursor_round_trip(root: Path) -> None:
    run = ft.start_run("live", experiment="exp", root=root, flush_interval=0.05)
    parts: list[list[float]] = []
    first = series(root, [run.run_id], "loss", points=100_000)["series"][0]
    cursor = first["cursor"]
    parts.append(first["x"])
    for chunk in range(20):  # past 8 small segments: the writer compacts while we read
        steps = np.arange(chunk * 1000, (chunk + 1) * 1000)
        run.log_array("loss", steps * 0.5, steps=steps)
        run.log_array("other", steps * 1.0, steps=steps)
        run.flush()
        new = series(root, [run.run_id], "loss", points=100_000, after=cursor)["series"][0]
        parts.append(new["x"])
        cursor = new["cursor"]
    run.finish()
    tail = series(root, [run.run_id], "loss", points=100_000, after=cursor)["series"][0]
    assert tail["x"] == []
    whole = [x for part in parts for x in part]
    assert whole == list(range(20_000))
    assert series(root, [run.run_id], "loss", points=100_000)["series"][0]["x"] == whole


@given(st.dictionaries(st.integers(0, 2**20), st.integers(0, 2**62), max_size=8))
def test_cursor_text_round_trip(rows: dict[int, int]) -> None:
    assert decode_cursor(encode_cursor(rows)) == rows


@pytest.mark.parametrize("bad", ["", "x", "c0", "c0-", "c-1-2", "ca-b"])
def test_bad_cursor_is_refused(bad: str) -> None:
    with pytest.raises(InvalidArgumentError, match="cursor"):
        decode_cursor(bad)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=False, width=32), min_size=1, max_size=400),
    st.lists(st.integers(0, 50), min_size=1, max_size=400),
    st.integers(4, 64),
)
def test_downsample_keeps_extremes(ys: list[float], gaps: list[int], points: int) -> None:
    n = min(len(ys), len(gaps))
    y = np.array(ys[:n], dtype=np.float64)
    x = np.cumsum(np.array(gaps[:n], dtype=np.int64))
    keep = minmax_indices(x, y, points)
    assert keep.size <= max(points, 0)
    assert keep.size >= 1
    assert (np.diff(keep) > 0).all()
    assert (np.diff(x[keep]) >= 0).all()
    assert keep[0] == 0
    assert keep[-1] == n - 1
    finite = ~np.isnan(y)
    if finite.any():
        assert np.nanmin(y) in y[keep]
        assert np.nanmax(y) in y[keep]
    if n <= points:
        assert keep.tolist() == list(range(n))
