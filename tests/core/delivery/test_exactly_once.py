"""Exactly once with the remote side's word (``handle_rows`` / ``remote_rows``), and the
health of each mirror as ``ferrotrack runs show`` reads it from the run's folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
from click.testing import CliRunner

from ferrotrack.core.cli import build
from ferrotrack.core.delivery.cursor import DeliveryCursor
from ferrotrack.core.delivery.health import backend_health
from ferrotrack.core.delivery.orchestrator import Orchestrator, OrchestratorOptions, Route
from ferrotrack.core.delivery.replay import replay
from ferrotrack.core.records import RunInfo

from .conftest import FAST, Journal, write_meta, write_points


class Ledger(Journal):
    """Keeps, like a database would in the points' own transaction, how far each rank got;
    ``lose_reply`` makes the next commit go through but its reply fail (a server killed
    after it committed)."""

    label = "ledger"

    def __init__(self, held: Mapping[int, int] | None = None) -> None:
        super().__init__()
        self.held = dict(held or {})
        self.ranges: list[tuple[int, int, int, int]] = []
        self.lose_reply = False

    def remote_rows(self) -> Mapping[int, int]:
        return dict(self.held)

    def handle_rows(self, batch: pa.RecordBatch, rank: int, start: int, end: int) -> None:
        self.ranges.append((rank, start, end, batch.num_rows))
        if end <= self.held.get(rank, 0):
            return  # committed before: the reply was lost
        super().handle_points(batch, rank)
        self.held[rank] = end
        if self.lose_reply:
            self.lose_reply = False
            raise ConnectionResetError("the reply was lost after the commit")


def test_a_retry_after_a_lost_reply_is_recognised_by_its_rows(tmp_path: Path) -> None:
    run = tmp_path / "run=r1"
    write_meta(run, status="finished")
    write_points(run, [("a", i, float(i)) for i in range(300)], every=100)
    ledger = Ledger()
    ledger.lose_reply = True
    options = OrchestratorOptions(
        backoff_initial=0.001, backoff_max=0.01, catch_up_retry=0.01, max_batch_rows=100
    )
    assert replay(run, ledger, options=options).ok
    assert [p[2] for p in ledger.points] == list(range(300))
    assert ledger.ranges[:2] == [(0, 0, 100, 100), (0, 0, 100, 100)]  # the same range again


def test_delivery_starts_where_the_remote_side_already_is(tmp_path: Path) -> None:
    """A kill between the remote commit and the cursor save: the cursor says 0, the remote
    says 120; the next sync sends rows 120.. only."""
    run = tmp_path / "run=r2"
    write_meta(run, status="finished")
    write_points(run, [("a", i, float(i)) for i in range(200)])
    ledger = Ledger(held={0: 120})
    report = replay(run, ledger, options=FAST)
    assert report.ok
    assert [p[2] for p in ledger.points] == list(range(120, 200))
    assert json.loads((run / "sync" / "ledger" / "rank-0.json").read_text())["rows"] == 200


def test_a_filtered_route_says_which_store_rows_a_smaller_batch_covers(tmp_path: Path) -> None:
    run = tmp_path / "run=r3"
    write_meta(run, status="finished")
    write_points(run, [(n, i, float(i)) for i in range(50) for n in ("a", "b")])
    ledger = Ledger()
    orch = Orchestrator([Route(ledger, exclude=("b",))], run_dir=run, options=FAST, ranks={0})
    orch.close()  # delivers what the store holds of rank 0
    assert sum(r[2] - r[1] for r in ledger.ranges) == 100
    assert sum(r[3] for r in ledger.ranges) == 50
    assert {p[1] for p in ledger.points} == {"a"}


def test_the_remote_run_open_run_chose_is_kept_when_a_later_step_fails(tmp_path: Path) -> None:
    """The state is saved inside the opening lock, right after ``open_run``: a failure in
    what follows (here the tag deleted since the last delivery) and the retry of the
    opening find the remote run chosen the first time, not a second one."""
    run = tmp_path / "run=r5"
    write_meta(run, status="finished")
    write_points(run, [("a", 0, 1.0)])
    DeliveryCursor(run, "opener").update_shared({}, delivered={"tags": {"gone": "x"}})

    class Opener(Journal):
        label = "opener"
        created = 0
        tag_blip = True

        def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
            if "rid" not in state:
                state["rid"] = f"remote-{self.created}"
                self.created += 1
            super().open_run(info, state)

        def set_tags(self, tags: Mapping[str, str | None]) -> None:
            if self.tag_blip:
                self.tag_blip = False
                raise ConnectionError("blip")
            super().set_tags(tags)

    opener = Opener()
    assert replay(run, opener, options=FAST).ok
    assert opener.created == 1
    assert ("set_tags", {"gone": None}) in opener.calls
    assert DeliveryCursor(run, "opener").load_shared().state == {"rid": "remote-0"}


def test_a_remote_run_created_by_a_failed_open_run_is_found_by_the_retry(tmp_path: Path) -> None:
    """open_run made its remote run, stored its id, then failed (a server hiccup while
    writing params): the retry of the opening sees the id, so no second remote run."""
    run = tmp_path / "run=r6"
    write_meta(run, status="finished")
    write_points(run, [("a", 0, 1.0)])

    class Flaky(Journal):
        label = "flaky"
        created = 0

        def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
            if "rid" not in state:
                state["rid"] = f"remote-{self.created}"
                self.created += 1
                raise ConnectionError("hiccup after the remote run was made")
            super().open_run(info, state)

    flaky = Flaky()
    assert replay(run, flaky, options=FAST).ok
    assert flaky.created == 1
    assert DeliveryCursor(run, "flaky").load_shared().state == {"rid": "remote-0"}


def test_health_shows_a_degraded_mirror_until_a_sync_fills_it(tmp_path: Path) -> None:
    run = tmp_path / "run=r4"
    write_meta(run, status="finished")
    write_points(run, [("a", i, float(i)) for i in range(40)])

    class Down(Journal):
        label = "down"
        up = False

        def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
            if not self.up:
                raise ConnectionRefusedError("connection refused by 127.0.0.1:9")
            super().handle_points(batch, rank)

    down = Down()
    options = OrchestratorOptions(max_failures=2, backoff_initial=0.001, backoff_max=0.002)
    assert not replay(run, down, options=options).ok
    health = backend_health(run)["down"]
    assert health["state"] == "degraded"
    assert (health["rows"], health["total"]) == (0, 40)
    assert "connection refused" in health["error"]
    down.up = True
    assert replay(run, down, options=FAST).ok
    assert backend_health(run)["down"] == {
        "state": "ok",
        "rows": 40,
        "total": 40,
        "error": None,
        "status_sent": "finished",
    }


def test_one_rank_ending_well_does_not_hide_another_ranks_degraded_mirror(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run=r7"
    write_meta(run, status="running")
    cursor = DeliveryCursor(run, "m")
    down = {"state": "degraded", "error": "ConnectionRefusedError: refused", "at": 1}
    cursor.update_shared({}, delivered={"health": {"rank-0": down}})
    cursor.update_shared({}, delivered={"health": {"rank-1": {"state": "ok", "error": None}}})
    health = backend_health(run)["m"]
    assert (health["state"], health["error"]) == ("degraded", "ConnectionRefusedError: refused")
    cursor.update_shared({}, delivered={"health": {"*": {"state": "ok", "error": None}}})
    assert backend_health(run)["m"]["state"] == "ok"  # a sync that ended well


def test_runs_show_lists_each_mirror_with_its_state(root: Path) -> None:
    import ferrotrack.core as ft

    with ft.start_run("shown", experiment="e") as run:
        run.log("a", 1.0, step=0)
    (run.run_dir / "sync" / "gone").mkdir(parents=True)  # a mirror that never delivered
    out = CliRunner().invoke(build(), ["runs", "show", run.run_id, "--json"])
    assert out.exit_code == 0, out.output
    mirrors = json.loads(out.output)["backends"]
    assert mirrors == {
        "gone": {"state": "behind", "rows": 0, "total": 1, "error": None, "status_sent": None}
    }
    table = CliRunner().invoke(build(), ["runs", "show", run.run_id])
    assert "behind" in table.output
    assert f"ferrotrack sync {run.run_id} --backend NAME" in table.output
