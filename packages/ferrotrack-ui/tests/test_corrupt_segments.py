"""A metrics segment whose footer reads but whose data pages are damaged (a disk fault in
the middle of a column chunk): the series, the run's page and the API name the file, and
every other metric and segment of the run is still served; in the browser the run page
shows the red banner and the charts. Never a 500, never a blank page."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
from browser import browser_fixture, chart_data, loaded, page_fixture  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Page
from store_fixtures import Built, damaged_run, make_runs
from ui_server import UiServer

from ferrotrack.ui.data import run_detail, runs_page, series
from ferrotrack.ui.data.runs import RunsQuery
from ferrotrack.ui.data.segments import segment_problems
from ferrotrack.ui.data.series import clear_cache

BAD = "metrics/part-00000-0000000002.parquet"
STAMPS = itertools.count(1)
"""A new mtime per damage: caches keyed by (path, size, mtime) must see a new file."""
GOOD = (list(range(10)), [float(i) for i in range(10)])


def bad_file(built: Built) -> Path:
    return built.folder / BAD


@pytest.mark.parametrize("column", ["value", "step", "name", "timestamp"])
def test_damaged_data_is_named_and_the_rest_served(root: Path, column: str) -> None:
    built = damaged_run(root, column=column)
    detail = run_detail(root, built.run_id)
    assert detail["run"]["name"] == "damaged"
    assert [p for p in detail["problems"] if BAD in p] != []  # the page's banner
    assert all(str(root) not in p for p in detail["problems"])
    assert detail["metrics"] == ["acc", "loss"]
    acc = series(root, [built.run_id], "acc")["series"][0]
    assert (acc["x"], acc["y"]) == GOOD  # the good segment's points, every one
    for after in (None, "c"):  # a chart's first read, and a live poll from the start
        loss = series(root, [built.run_id], "loss", after=after)["series"][0]
        if column == "timestamp":  # x by step never decodes the damaged column
            assert loss["problem"] is None
            assert loss["x"] == list(range(210))
        else:
            assert BAD in loss["problem"]
            assert (loss["x"], loss["y"]) == GOOD
    wall = series(root, [built.run_id], "loss", x="wall")["series"][0]
    if column in ("timestamp", "name"):
        assert BAD in wall["problem"]
        assert wall["total"] == 10
    # the runs table still lists it
    assert [r["run_id"] for r in runs_page(root, RunsQuery())["runs"]] == [built.run_id]


def undecodable_name(data: bytes) -> bytes:
    """``data`` with a few bytes of its ``name`` chunk changed so that the chunk still
    decompresses but its dictionary is not UTF-8 (about 1 damage in 80 does that; the
    chunk's bytes are the same in every run, so the search is too)."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    chunk = meta.row_group(0).column(0)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    rng = np.random.default_rng(0)
    for _ in range(5000):
        at = start + int(rng.integers(0, chunk.total_compressed_size))
        junk = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        damaged = data[:at] + junk + data[at + len(junk) :]
        try:
            names = pq.ParquetFile(io.BytesIO(damaged)).read(columns=["name"]).column(0)
            for part in names.chunks:
                part.dictionary.to_pylist()
        except UnicodeDecodeError:
            return damaged[: len(data)]
        except Exception:  # another kind of damage: try the next
            continue
    raise AssertionError("no damage of the name chunk gave a dictionary that is not UTF-8")


def test_a_name_that_is_not_utf8_is_a_problem(root: Path) -> None:
    """pyarrow decodes such a page; turning its dictionary into str raises
    UnicodeDecodeError, which was a 500 before."""
    built = damaged_run(root, column="timestamp")  # x by step never reads that column
    path = bad_file(built)
    path.write_bytes(undecodable_name(path.read_bytes()))
    os.utime(path, ns=(next(STAMPS), next(STAMPS)))
    loss = series(root, [built.run_id], "loss")["series"][0]
    assert loss["problem"].startswith(f"{BAD}: cannot be read (UnicodeDecodeError: ")
    assert (loss["x"], loss["y"]) == GOOD
    assert any(BAD in p for p in run_detail(root, built.run_id)["problems"])


def test_the_check_reads_each_file_once(root: Path) -> None:
    built = damaged_run(root)
    good = make_runs(root, 1)[0]
    assert segment_problems(str(good.folder)) == []
    first = segment_problems(str(built.folder))
    assert len(first) == 1
    assert first[0].startswith(f"{BAD}: cannot be read (")
    path = bad_file(built)
    stat = path.stat()
    # the same size and time, other bytes: a check that read the file again would see no
    # Parquet at all; the answer kept for (path, size, mtime) is given instead
    path.write_bytes(b"\0" * stat.st_size)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert segment_problems(str(built.folder)) == first
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # a changed file: looked at
    assert segment_problems(str(built.folder)) == []  # again (its footer: verify_run's)
    assert any(BAD in p for p in run_detail(root, built.run_id)["problems"])


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_any_damage_is_reported_never_raised(root: Path, data: st.DataObject) -> None:
    """Bytes overwritten anywhere in a segment (data, headers, footer): the answers come,
    and the good segment's points are in them."""
    runs = runs_page(root, RunsQuery())["runs"]
    built = (
        damaged_run(root)
        if not runs
        else Built("exp", runs[0]["run_id"], "damaged",
                   root / "experiment=exp" / f"run={runs[0]['run_id']}")
    )  # fmt: skip
    path = bad_file(built)
    size = path.stat().st_size
    at = data.draw(st.integers(0, size - 1), label="at")
    junk = data.draw(st.binary(min_size=1, max_size=16), label="junk")
    original = path.read_bytes()
    try:
        damaged = original[:at] + junk + original[at + len(junk) :]
        path.write_bytes(damaged[:size])
        os.utime(path, ns=(next(STAMPS), next(STAMPS)))
        clear_cache()
        detail = run_detail(root, built.run_id)
        assert detail["run"]["run_id"] == built.run_id
        for kind in ("step", "wall"):
            for name in ("acc", "loss"):
                got = series(root, [built.run_id], name, x=kind)["series"][0]
                if kind == "step":
                    pairs = set(zip(got["x"], got["y"], strict=True))
                    assert set(zip(*GOOD, strict=True)) <= pairs
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(next(STAMPS), next(STAMPS)))
        clear_cache()


def test_api_answers_with_the_problem(root: Path) -> None:
    built = damaged_run(root)
    with UiServer(root) as server, httpx.Client(base_url=server.url) as http:
        detail = http.get(f"/api/runs/{built.run_id}")
        assert detail.status_code == 200
        assert any(BAD in p for p in detail.json()["problems"])
        loss = http.get("/api/series", params={"run": built.run_id, "name": "loss"})
        assert loss.status_code == 200
        entry = loss.json()["series"][0]
        assert BAD in entry["problem"]
        assert (entry["x"], entry["y"]) == GOOD
        acc = http.get("/api/series", params={"run": built.run_id, "name": "acc", "x": "relative"})
        assert acc.status_code == 200
        assert acc.json()["series"][0]["total"] == 10
        assert http.get("/api/runs").json()["total"] == 1


@pytest.mark.slow
def test_run_page_shows_banner_and_charts(root: Path, page: Page) -> None:
    built = damaged_run(root)
    with UiServer(root) as server:
        page.goto(f"{server.url}/#/run/{built.run_id}")
        loaded(page)
        banner = page.locator("#banner")
        banner.wait_for(state="visible")
        assert BAD in banner.inner_text()
        assert page.locator("#run-name").inner_text() == "damaged"
        for name in ("acc", "loss"):
            [trace] = chart_data(page, name)
            assert (trace["x"], trace["y"]) == GOOD
        note = page.locator('.chart-card[data-metric="loss"] .chart-note')
        assert BAD in note.inner_text()
        assert "error" in str(note.get_attribute("class"))


def test_segments_past_the_budget_are_checked_after_the_answer(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run too large to decode before the page answers: the answer comes at once, and
    a later one names the damage the check after it found."""
    import time

    from ferrotrack.ui.data import segments

    built = damaged_run(root)
    monkeypatch.setattr(segments, "SYNC_CHECK_BYTES", 0)
    first = segment_problems(str(built.folder))
    assert first == []  # nothing was decoded before answering
    deadline = time.monotonic() + 30
    while not (later := segment_problems(str(built.folder))):
        assert time.monotonic() < deadline, "the check after the answer never reported"
        time.sleep(0.01)
    assert len(later) == 1
    assert BAD in later[0]


def test_a_footer_column_name_that_is_not_utf8_is_named(root: Path) -> None:
    """A damaged byte in a column's name inside the footer: pyarrow raises
    UnicodeDecodeError reading the metadata; that is the file's problem, not a 500 (found
    by the property test above on a fresh-clone run)."""
    built = damaged_run(root)
    path = bad_file(built)
    original = path.read_bytes()
    footer = len(original) - 8 - int.from_bytes(original[-8:-4], "little")
    at = original.index(b"value", footer)  # the schema: the footer's first names
    path.write_bytes(original[:at] + b"\x80" + original[at + 1 :])
    os.utime(path, ns=(next(STAMPS), next(STAMPS)))
    clear_cache()
    detail = run_detail(root, built.run_id)
    assert any(BAD in p for p in detail["problems"])
    for name in ("acc", "loss"):
        got = series(root, [built.run_id], name)["series"][0]
        assert set(zip(*GOOD, strict=True)) <= set(zip(got["x"], got["y"], strict=True))
