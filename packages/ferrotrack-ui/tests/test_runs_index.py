"""The runs index's first build: newest runs first, published chunk by chunk, so a page can
be answered before the whole store is read; and sorting by a tag.

The build is held after its first chunk (``held_build.HeldBuild``), so what a request sees
mid-build is decided by the test, not by timing.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import store_fixtures as sf
from held_build import WAIT, HeldBuild

import ferrotrack.core as ft
from ferrotrack.ui.data import RunsQuery, compare, run_detail, runs_page
from ferrotrack.ui.data import runs as runs_mod
from ferrotrack.ui.data.runs import RunsIndex, index_for


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 4 runs, so a store of 10 is read in two."""
    monkeypatch.setattr(runs_mod, "FIRST_CHUNK", 4)


def _ids_newest_first(root: Path) -> list[str]:
    return sorted(ft.runs(root=root)["run_id"].to_list(), reverse=True)


def test_first_build_publishes_newest_runs_first(root: Path, small_chunks: None) -> None:
    sf.make_runs(root, 10)  # chunks of 4, then 16: two reads
    index = RunsIndex(root)
    build = HeldBuild(index, chunks=1)
    build.thread.start()
    snap = index.snapshot(wait_s=0)
    assert snap.partial == (4, 10)
    newest = _ids_newest_first(root)
    assert [e.ref.run_id for e in snap.entries] == newest[:4]
    build.release()
    assert build.error is None
    full = index.snapshot(wait_s=0)
    assert full.partial is None
    assert [e.ref.run_id for e in full.entries] == newest
    assert full.cursor != snap.cursor


def test_a_request_without_a_wait_gets_the_whole_store(root: Path, small_chunks: None) -> None:
    sf.make_runs(root, 10)
    index = RunsIndex(root)
    build = HeldBuild(index, chunks=1)
    build.thread.start()
    index.snapshot(wait_s=0)  # the first chunk is out
    got: list[int] = []
    waiter = threading.Thread(target=lambda: got.append(len(index.refresh())))
    waiter.start()
    build.release()
    waiter.join(WAIT)
    assert got == [10]


def test_partial_page_then_whole_page(root: Path, small_chunks: None) -> None:
    built = sf.make_runs(root, 9)  # written one after the other: newer id, later start
    build = HeldBuild(index_for(root), chunks=1)
    build.thread.start()
    query = RunsQuery(limit=3)
    first = runs_page(root, query, wait_s=0)
    assert first["partial"] == {"indexed": 4, "of": 9}
    assert first["total"] == 4
    assert [r["name"] for r in first["runs"]] == [b.name for b in reversed(built)][:3]
    build.release()
    whole = runs_page(root, query, wait_s=0)
    assert whole["partial"] is None
    assert whole["total"] == 9
    assert whole["runs"] == first["runs"]  # the newest runs were the right first page
    # a cursor of the partial answer: the runs read after it are news
    later = runs_page(root, RunsQuery(since=first["cursor"], limit=100))
    assert len(later["runs"]) == 5


def test_build_that_fails_half_way_is_started_again(root: Path, small_chunks: None) -> None:
    sf.make_runs(root, 10)
    index = RunsIndex(root)
    build = HeldBuild(index, chunks=10, fail_at=2)
    build.thread.start()
    build.thread.join(WAIT)
    assert isinstance(build.error, OSError)
    entries = index.refresh()  # builds again from nothing: no run twice
    assert sorted(e.ref.run_id for e in entries) == sorted(_ids_newest_first(root))


def test_sort_by_tag(root: Path) -> None:
    sf.make_runs(root, 4)  # tag seed = "0".."3", team red/blue
    with ft.start_run("untagged", root=root):
        pass
    page = runs_page(root, RunsQuery(sort="tags.seed", desc=True))
    names = [r["name"] for r in page["runs"]]
    assert names == ["run-3", "run-2", "run-1", "run-0", "untagged"]  # missing last
    page = runs_page(root, RunsQuery(sort="tags.seed", desc=False))
    assert [r["name"] for r in page["runs"]][:4] == ["run-0", "run-1", "run-2", "run-3"]
    assert page["runs"][-1]["name"] == "untagged"


def test_a_page_on_an_unread_store_starts_the_build_and_answers_early(
    root: Path, small_chunks: None
) -> None:
    sf.make_runs(root, 10)
    index = RunsIndex(root)
    build = HeldBuild(index, chunks=1)  # not started: the request's own build is held
    snap = index.snapshot(wait_s=0)
    assert snap.partial == (4, 10)
    build.release()
    assert len(index.refresh()) == 10


def test_a_build_started_by_a_page_hands_its_failure_to_that_page(
    root: Path, small_chunks: None
) -> None:
    sf.make_runs(root, 10)
    index = RunsIndex(root)
    HeldBuild(index, chunks=10, fail_at=1)
    with pytest.raises(OSError, match="the disk went away"):
        index.snapshot(wait_s=0)
    assert index.snapshot(wait_s=0).partial == (4, 10)  # the next call reads it again
    assert sorted(e.ref.run_id for e in index.refresh()) == sorted(_ids_newest_first(root))


def test_a_runs_page_does_not_wait_for_the_store(root: Path, small_chunks: None) -> None:
    """A run's detail and a compare read only their runs: they answer while the first
    build is held, for a run it has not read yet."""
    built = sf.make_runs(root, 10)
    build = HeldBuild(index_for(root), chunks=1)
    build.thread.start()
    runs_page(root, RunsQuery(), wait_s=0)  # the first chunk (the newest 4) is out
    oldest = built[0]
    detail = run_detail(root, oldest.run_id)
    assert detail["run"]["name"] == oldest.name
    assert detail["run"]["metrics"]["train/loss"]["count"] == 20
    both = compare(root, [oldest.run_id, built[1].run_id])
    assert [r["name"] for r in both["runs"]] == ["run-0", "run-1"]
    assert build.thread.is_alive()  # still held: nothing above waited for it
    build.release()
    assert runs_page(root, RunsQuery(limit=100))["total"] == 10


def test_a_run_read_again_when_it_changes(root: Path) -> None:
    [b] = sf.make_runs(root, 1)
    assert run_detail(root, b.run_id)["run"]["tags"]["team"] == "red"
    meta = json.loads((b.folder / "run.json").read_text())
    meta["tags"]["team"] = "green"
    (b.folder / "run.json").write_text(json.dumps(meta) + " ")  # another size: a new stamp
    assert run_detail(root, b.run_id)["run"]["tags"]["team"] == "green"
