"""The backend contract: call order (defect 7), state, permanent errors, events, legacy cursors."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.delivery.orchestrator import Orchestrator, OrchestratorOptions, Route
from ferrotrack.core.delivery.replay import replay
from ferrotrack.core.errors import PermanentBackendError
from ferrotrack.core.plugins.arrow import metrics_to_batch
from ferrotrack.core.plugins.metric import MetricData
from ferrotrack.core.records import RunEvent, RunInfo

from .conftest import FAST, Journal, SlowJournal, write_meta, write_points


def batch_of(points: list[tuple[str, int, float]]) -> pa.RecordBatch:
    return metrics_to_batch([MetricData(n, v, step=s) for n, s, v in points])


def test_live_lane_keeps_the_contract_order_with_items_after_their_rows(tmp_path: Path) -> None:
    run = tmp_path / "run=r1"
    write_meta(run, status="finished")
    journal = Journal()
    writer = MetricWriter(run, background=False)
    with Orchestrator([journal], run_dir=run, options=FAST, ranks={0}) as orch:
        orch.set_status("running")
        for k in range(6):
            for i in range(10):
                writer.log("loss", float(i), step=10 * k + i)
            writer.flush()
            orch.submit(0, 10 * k, batch_of([("loss", 10 * k + i, float(i)) for i in range(10)]))
            if k == 1:
                orch.log_params({"lr": 0.1}, rank=0, rows=20)
            if k == 3:
                orch.set_tags({"phase": "b"}, rank=0, rows=40)
                orch.log_event(RunEvent("checkpoint", time=1, rank=0, seq=0, rows=40))
                orch.log_artifact(tmp_path, "model", rank=0, rows=40)
        writer.close()
        orch.set_status("finished", final=True)
    assert journal.violations == []
    assert journal.kinds() == [
        "open_run",
        "set_status",
        "points",
        "log_params",
        "points",
        "set_tags",
        "log_event",
        "log_artifact",
        "points",
        "set_status",
        "flush",
    ]
    index = {c[0]: i for i, c in enumerate(journal.calls)}
    assert journal.rows_before(index["log_params"]) == 20
    assert journal.rows_before(index["log_event"]) == 40
    assert journal.rows_before(len(journal.calls) - 2) == 60  # final status after every point
    assert journal.calls[-2] == ("set_status", "finished")
    shared = json.loads((run / "sync" / "journal" / "state.json").read_text())
    assert shared["delivered"].pop("health")["*"]["state"] == "ok"
    assert shared["delivered"] == {
        "status": "finished",
        "params": {"lr": 0.1},
        "tags": {"phase": "b"},
        "artifacts": ["model"],
    }
    assert json.loads((run / "sync" / "journal" / "rank-0.json").read_text())["events"] == 1


def test_a_lagging_lane_sends_the_final_status_after_the_last_point(tmp_path: Path) -> None:
    """Defect 7: a lane over ``max_pending_rows`` dropped batches but kept calls, so the
    status it was given came before the points it then read from the store."""
    journal = SlowJournal()
    options = OrchestratorOptions(max_pending_rows=5, catch_up_retry=0.01, drain_timeout=30.0)
    writer = MetricWriter(tmp_path, background=False)
    with Orchestrator([journal], run_dir=tmp_path, options=options, ranks={0}) as orch:
        for k in range(40):
            chunk = [("x", 10 * k + i, 1.0) for i in range(10)]
            for name, step, value in chunk:
                writer.log(name, value, step=step)
            writer.flush()
            orch.submit(0, 10 * k, batch_of(chunk))
            if k == 20:
                orch.log_params({"k": k}, rank=0, rows=10 * (k + 1))
        writer.close()
        orch.set_status("finished", final=True)
    status = orch.status()["slow_journal"]
    assert status["rows_dropped_from_memory"] > 0  # it did lag
    assert journal.violations == []
    assert sorted(p[2] for p in journal.points) == list(range(400))
    params_at = next(i for i, c in enumerate(journal.calls) if c[0] == "log_params")
    assert journal.rows_before(params_at) == 210
    assert journal.calls[-2:] == [("set_status", "finished"), ("flush",)]


def test_sync_sends_points_then_the_final_status(tmp_path: Path) -> None:
    """Defect 7: ``sync`` sent the status before replaying the points."""
    run = tmp_path / "run=r2"
    write_meta(run, status="finished", tags={"team": "a"})
    (run / "params.json").write_text(json.dumps({"lr": 0.1, "model": {"depth": 3}}))
    write_points(run, [("a", i, float(i)) for i in range(100)], every=30)
    journal = Journal()
    report = replay(run, journal, options=FAST)
    assert report.ok
    assert report.points_sent == 100
    assert journal.violations == []
    # whole params and tags come with open_run; nothing was logged after it
    assert journal.kinds() == ["open_run", "set_status", "points", "set_status", "flush"]
    assert journal.calls[1] == ("set_status", "running")
    assert journal.calls[-2] == ("set_status", "finished")
    assert journal.opened[0].params == {"lr": 0.1, "model": {"depth": 3}}
    assert journal.opened[0].tags == {"team": "a"}
    assert journal.opened[0].rank is None
    # a second sync has nothing to send but the open and the flush
    again = Journal()
    assert replay(run, again, options=FAST).points_sent == 0
    assert again.kinds() == ["open_run", "flush"]


def test_sync_fills_a_degraded_lane_in_order_once(tmp_path: Path) -> None:
    run = tmp_path / "run=r3"
    write_meta(run, status="finished")

    class Down(Journal):
        label = "down"
        up = False

        def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
            if not self.up:
                raise ConnectionError("down")
            super().handle_points(batch, rank)

    down = Down()
    options = OrchestratorOptions(max_failures=2, backoff_initial=0.001, backoff_max=0.002)
    writer = MetricWriter(run, background=False)
    with Orchestrator([down], run_dir=run, options=options, ranks={0}) as orch:
        orch.set_status("running")
        for i in range(50):
            writer.log("a", float(i), step=i)
        writer.close()
        orch.submit(0, 0, batch_of([("a", i, float(i)) for i in range(50)]))
        orch.set_status("finished", final=True)
    assert orch.status()["down"]["state"] == "degraded"
    assert ("set_status", "finished") not in down.calls
    down.up = True
    calls_before = len(down.calls)
    assert replay(run, down, options=FAST).ok
    tail = down.calls[calls_before:]
    assert [c[0] for c in tail][-3:] == ["points", "set_status", "flush"]
    assert ("set_status", "running") not in tail  # it had it already
    assert [p[2] for p in down.points] == list(range(50))


def test_backend_state_is_kept_beside_the_cursor_and_given_back(tmp_path: Path) -> None:
    run = tmp_path / "run=r4"
    write_meta(run, status="finished")
    write_points(run, [("a", i, 1.0) for i in range(10)])

    class Remote(Journal):
        label = "remote"

        def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
            super().open_run(info, state)
            state.setdefault("remote_id", f"remote-{info.run_id}")
            state["opens"] = state.get("opens", 0) + 1
            self.remote = state

        def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
            super().handle_points(batch, rank)
            self.remote["points"] = self.remote.get("points", 0) + batch.num_rows

    first = Remote()
    replay(run, first, options=FAST)
    second = Remote()
    replay(run, second, options=FAST)
    assert first.state_seen == [{}]
    assert second.state_seen == [{"remote_id": "remote-r4", "opens": 1, "points": 10}]
    saved = json.loads((run / "sync" / "remote" / "state.json").read_text())
    assert saved["state"] == {"remote_id": "remote-r4", "opens": 2, "points": 10}


def test_state_keys_of_two_lanes_are_merged_not_lost(tmp_path: Path) -> None:
    run = tmp_path / "run=r5"
    write_meta(run, status="finished")

    class Keyed(Journal):
        label = "keyed"

        def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
            super().open_run(info, state)
            state[f"rank{info.rank}"] = True

    for rank in (0, 1):
        info = RunInfo("exp", "r5", "r", run, 1, rank=rank)
        with Orchestrator([Keyed()], run_dir=run, options=FAST, info=info, ranks={rank}):
            pass
    saved = json.loads((run / "sync" / "keyed" / "state.json").read_text())
    assert saved["state"] == {"rank0": True, "rank1": True}


def test_a_permanent_error_skips_the_item_and_the_mirror_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Picky(Journal):
        label = "picky"

        def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
            if "bad" in batch.column("name").to_pylist():
                raise PermanentBackendError("name 'bad' is refused")
            super().handle_points(batch, rank)

        def log_params(self, params: Mapping[str, Any]) -> None:
            if "bad" in params:
                raise PermanentBackendError("param 'bad' is refused")
            super().log_params(params)

    picky = Picky()
    options = OrchestratorOptions(max_batch_rows=10, max_failures=1, catch_up_retry=0.01)
    writer = MetricWriter(tmp_path, background=False)
    caplog.set_level(logging.DEBUG, logger="ferrotrack.delivery")
    with Orchestrator([picky], run_dir=tmp_path, options=options) as orch:
        for k in range(5):
            name = "bad" if k in (1, 3) else "good"
            chunk = [(name, 10 * k + i, 1.0) for i in range(10)]
            for n, s, v in chunk:
                writer.log(n, v, step=s)
            writer.flush()
            orch.submit(0, 10 * k, batch_of(chunk))
        orch.log_params({"bad": 1}, rank=0, rows=50)
        orch.log_params({"good": 2}, rank=0, rows=50)
        writer.close()
    status = orch.status()["picky"]
    assert status["state"] == "ok"
    assert status["rejected"] == 21  # two batches of 10 and one params call
    assert status["failures"] == 0
    assert status["cursor"] == {0: 50}
    assert [p[2] for p in picky.points] == [*range(10), *range(20, 30), *range(40, 50)]
    assert ("log_params", {"good": 2}) in picky.calls
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "rejected" in r.message]
    assert len(warned) == 1


def test_the_old_single_cursor_file_is_read(tmp_path: Path) -> None:
    run = tmp_path / "run=r6"
    write_meta(run, status="finished")
    (run / "params.json").write_text(json.dumps({"lr": 0.1}))
    write_points(run, [("a", i, 1.0) for i in range(20)])
    (run / "sync").mkdir()
    old = {"backend": "journal", "ranks": {"0": 15}, "state": {"params_sent": True, "id": "x"}}
    (run / "sync" / "journal.json").write_text(json.dumps(old))
    journal = Journal()
    report = replay(run, journal, options=FAST)
    assert [p[2] for p in journal.points] == list(range(15, 20))
    assert "log_params" not in journal.kinds()
    assert journal.state_seen == [{"id": "x"}]
    assert report.cursor == {0: 20}


def test_handle_metric_backends_still_work_and_get_params_through_the_default_open(
    tmp_path: Path,
) -> None:
    from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

    class PerPoint(BackendPlugin):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[str, int | None]] = []
            self.params: list[dict[str, Any]] = []

        def log_params(self, params: Mapping[str, Any]) -> None:
            self.params.append(dict(params))

        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="per_point", type=PluginType.BACKEND)

        def handle_metric(self, metric: MetricData) -> None:
            self.seen.append((metric.name, metric.step))

    backend = PerPoint()
    run = tmp_path / "run=r8"
    write_meta(run, status="finished")
    (run / "params.json").write_text(json.dumps({"lr": 0.1}))
    write_points(run, [("a", i, 1.0) for i in range(5)])
    with Orchestrator([Route(backend)], run_dir=run, options=FAST) as orch:
        orch.log_params({"seed": 3}, rank=0, rows=5)
    assert backend.seen == [("a", i) for i in range(5)]
    assert backend.params == [{"lr": 0.1}, {"seed": 3}]


def test_sync_leaves_a_rank_held_by_a_live_process_to_it(tmp_path: Path) -> None:
    from ferrotrack.core.delivery.source import idle_rank

    run = tmp_path / "run=r7"
    write_meta(run, status="finished")
    write_points(run, [("a", i, 1.0) for i in range(10)], rank=0)
    write_points(run, [("b", i, 1.0) for i in range(10)], rank=1)
    journal = Journal()
    with idle_rank(run, 0) as free:  # this process holds rank 0 as its writer would
        assert free
        report = replay(run, journal, options=FAST)
    assert report.live_ranks == [0]
    assert {p[0] for p in journal.points} == {1}
    assert ("set_status", "finished") not in journal.calls  # rank 0 is not done
    later = replay(run, journal, options=FAST)
    assert later.live_ranks == []
    assert sorted(p[:2] for p in journal.points) == sorted([(0, "a")] * 10 + [(1, "b")] * 10)
    assert journal.calls[-2] == ("set_status", "finished")


def test_sync_delivers_events_after_their_rows_once(tmp_path: Path) -> None:
    from ferrotrack.core.store.events import EventLog

    run = tmp_path / "run=r9"
    write_meta(run, status="finished")
    write_points(run, [("a", i, 1.0) for i in range(30)])
    log = EventLog(run, 0)
    log.append({"kind": "checkpoint", "name": "c1"}, rows=10)
    log.append({"kind": "message", "message": "half"}, rows=20)
    log.close()
    journal = Journal()
    replay(run, journal, options=FAST)
    assert journal.violations == []
    events = [i for i, c in enumerate(journal.calls) if c[0] == "log_event"]
    assert [journal.calls[i][1] for i in events] == ["checkpoint", "message"]
    assert [journal.rows_before(i) for i in events] == [10, 20]
    again = Journal()
    replay(run, again, options=FAST)
    assert "log_event" not in again.kinds()


def test_a_deleted_tag_reaches_the_backend_live_and_on_sync(root: Path) -> None:
    """``set_tags({"k": None})`` deletes the tag: a live backend gets ``{"k": None}``; a
    sync of a backend that last saw the tag sends the deletion once, then nothing."""
    import ferrotrack.core as ft

    live = Journal()
    with ft.start_run("tags", tags={"keep": "1", "gone": "2"}, backends=[live]) as run:
        run.set_tags({"gone": None})
    assert ("set_tags", {"gone": None}) in live.calls
    assert json.loads((run.run_dir / "run.json").read_text())["tags"] == {"keep": "1"}

    class Late(Journal):
        label = "late"

    late = Late()
    shared = run.run_dir / "sync" / "late"
    shared.mkdir(parents=True)
    (shared / "state.json").write_text(
        json.dumps({"backend": "late", "state": {}, "delivered": {"tags": {"gone": "2"}}})
    )
    replay(run.run_dir, late)
    assert late.opened[0].tags == {"keep": "1"}
    assert [c for c in late.calls if c[0] == "set_tags"] == [("set_tags", {"gone": None})]
    again = Late()
    replay(run.run_dir, again)
    assert [c for c in again.calls if c[0] == "set_tags"] == []
