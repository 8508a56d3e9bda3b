"""The live-delivery budget: while the producer logs, the lanes of a process together
spend at most ``delivery_share`` of wall time delivering; quiet, closing, waited on or
syncing, they go at full speed, and nothing is lost or sent twice.

Bounds are checked on the lanes' own accounting of their busy time (``busy_seconds``,
``budget_seconds``), which the budget's token bucket bounds whatever the scheduler does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.delivery.budget import Budget, shared_budget
from ferrotrack.core.delivery.orchestrator import (
    Orchestrator,
    OrchestratorOptions,
    delivery_options,
)
from ferrotrack.core.delivery.replay import sync_run
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType
from ferrotrack.core.settings import FerrotrackSettings

PER_ROW = 20e-6
"""Seconds of backend work per point: 50 k points/s at full speed."""


class Costly(BackendPlugin):
    """A backend whose work takes time in proportion to the points it gets."""

    label = "costly"

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[int] = []
        self.sizes: list[int] = []
        self.lock = threading.Lock()

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name=cls.label, type=PluginType.BACKEND)

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        time.sleep(batch.num_rows * PER_ROW)  # the backend's own work, not an ordering
        with self.lock:
            self.steps += batch.column("step").to_pylist()
            self.sizes.append(batch.num_rows)


class Costly2(Costly):
    label = "costly2"


def options(**kw: float) -> OrchestratorOptions:
    base: dict[str, float] = {"backoff_initial": 0.001, "backoff_max": 0.01}
    return OrchestratorOptions(**{**base, **kw})  # type: ignore[arg-type]


def produce(
    run: Path, orch: Orchestrator, batches: int, rows: int, step_time: float = 0.0
) -> tuple[int, float]:
    """Logs and submits ``batches`` batches of ``rows`` points, like a training loop with
    its flush thread, one every ``step_time`` seconds (the loop's own work between
    flushes); returns (points, seconds from the first submit to the last)."""
    writer = MetricWriter(run, rank=0, background=False)
    first = last = time.monotonic()
    total = 0
    for _ in range(batches):
        steps = np.arange(total, total + rows, dtype=np.int64)
        writer.log_array("x", steps.astype(np.float64), steps)
        writer.flush()
        table = pa.table(
            {
                "name": pa.array(["x"] * rows),
                "step": pa.array(steps),
                "timestamp": pa.array(np.zeros(rows, dtype=np.int64)),
                "value": pa.array(steps.astype(np.float64)),
            }
        )
        orch.submit(0, total, table.to_batches()[0])
        total += rows
        last = time.monotonic()
        time.sleep(step_time)  # the training step between two flushes
    writer.close()
    return total, last - first


def poll(check: Callable[[], bool], deadline: float) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return check()


# ---- the bucket itself --------------------------------------------------------------------


def test_the_bucket_pays_items_while_hot_and_waits_out_a_debt() -> None:
    budget = Budget(0.1, window=1.0)
    t = time.monotonic() + 10.0  # later than its creation: the bucket is full
    assert budget.admit(t, 5.0) == (0.0, False)  # no producer yet: free
    budget.note_producer(t)
    assert budget.admit(t, 5.0) == (0.0, True)
    budget.charge(0.3, t)  # 0.1 held, 0.3 spent: 0.2 owed
    wait, charged = budget.admit(t, 5.0)
    assert wait == pytest.approx(2.0)  # 0.2 s at 0.1 s per second
    assert not charged
    # a wait never lasts past the moment the producer goes quiet
    assert budget.admit(t + 0.5, 1.0)[0] == pytest.approx(0.5)
    assert budget.admit(t + 2.0, 5.0) == (0.0, True)
    assert budget.admit(t + 5.0, 5.0) == (0.0, False)
    assert budget.spent == pytest.approx(0.3)


def test_a_share_of_one_is_no_budget() -> None:
    budget = Budget(1.0)
    budget.note_producer(time.monotonic())
    budget.charge(100.0, time.monotonic())
    assert budget.unlimited
    assert budget.admit(time.monotonic(), 60.0) == (0.0, False)


@given(
    share=st.floats(0.01, 0.5),
    items=st.lists(st.floats(0.0, 0.2), min_size=1, max_size=200),
)
def test_what_a_hot_producer_pays_is_bounded_by_the_share(share: float, items: list[float]) -> None:
    """A lane that starts items as soon as the bucket lets it: over any hot stretch, what it
    spends is at most share × elapsed + one bucket + the item that overdraws it."""
    budget = Budget(share, window=1.0)
    start = now = time.monotonic() + 10.0
    budget.note_producer(now + 1e9)  # hot throughout
    for took in items:
        while (wait := budget.admit(now, 1e10))[0] > 0:
            now += wait[0]
        budget.charge(took, now + took)
        now += took
    assert budget.spent <= share * (now - start) + budget.capacity + max(items) + 1e-9


# ---- live lanes ----------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hot_producer_bounds_the_lanes_busy_share_and_close_catches_up(tmp_path: Path) -> None:
    budget = Budget(0.1, window=0.5)
    one, two = Costly(), Costly2()
    opts = options(quiet_after=0.3, drain_timeout=60.0)
    orch = Orchestrator([one, two], run_dir=tmp_path, options=opts, budget=budget)
    orch.start()
    points, hot = produce(tmp_path, orch, batches=60, rows=1000, step_time=0.02)
    lanes = orch.status()
    charged = sum(s["budget_seconds"] for s in lanes.values())
    assert charged == pytest.approx(budget.spent)
    # both lanes together: the share of the hot stretch (it lasts quiet_after past the last
    # submit), one bucket, and one item each that overdraws it (items fit about a bucket)
    bound = 0.1 * (hot + 0.3) + budget.capacity + 2 * 0.1
    assert charged <= bound, (charged, bound, lanes)
    delivered = sum(s["rows_delivered"] for s in lanes.values())
    # at full speed each keeps up (50 k points/s, as fast as they come); under the budget
    # they lag
    assert delivered < 2 * points / 2, lanes
    assert all(s["throttled"] > 0 for s in lanes.values())
    orch.close()
    assert one.steps == list(range(points))  # all of it, once, in order
    assert two.steps == list(range(points))
    after = orch.status()
    assert all(s["cursor"] == {0: points} for s in after.values())
    assert all(s["state"] == "ok" for s in after.values())
    # the drain was not charged: it went at full speed
    assert sum(s["budget_seconds"] for s in after.values()) == pytest.approx(charged, abs=0.25)


@pytest.mark.slow
def test_a_quiet_producer_gets_full_speed_delivery(tmp_path: Path) -> None:
    budget = Budget(0.01, window=1.0)  # 10 ms a second while hot
    backend = Costly()
    orch = Orchestrator(
        [backend], run_dir=tmp_path, options=options(quiet_after=0.2), budget=budget
    )
    orch.start()
    points, hot = produce(tmp_path, orch, batches=4, rows=5000)
    # 20 µs a point: ≥ 0.1 s of work per 5,000 points, which under the budget alone would
    # take ≥ 10 s each; once quiet the lane delivers the rest unthrottled
    assert points * PER_ROW >= 0.1
    assert poll(lambda: orch.status()["costly"]["cursor"].get(0) == points, 20.0)
    # the lane adds an item's time to busy_seconds just after its cursor moved: wait for it
    assert poll(lambda: orch.status()["costly"]["busy_seconds"] >= points * PER_ROW * 0.9, 5.0)
    status = orch.status()["costly"]
    # paid only while hot (it lasts quiet_after past the last submit): share, bucket, item
    assert status["budget_seconds"] <= 0.01 * (hot + 0.2) + budget.capacity + 0.1
    # hot items were cut to about a bucket's worth; quiet ones were whole batches
    assert min(backend.sizes[:1]) <= 1024
    assert max(backend.sizes) >= 5000
    orch.close()
    assert backend.steps == list(range(points))


@pytest.mark.slow
def test_wait_idle_lifts_the_budget(tmp_path: Path) -> None:
    budget = Budget(0.001, window=1.0)
    backend = Costly()
    opts = options(quiet_after=3600.0)  # the producer stays hot throughout
    orch = Orchestrator([backend], run_dir=tmp_path, options=opts, budget=budget)
    orch.start()
    points, _ = produce(tmp_path, orch, batches=4, rows=5000)
    assert budget.hot(time.monotonic(), 3600.0)
    assert orch.wait_idle(30.0)
    assert orch.status()["costly"]["cursor"] == {0: points}
    orch.close()
    assert backend.steps == list(range(points))


def test_sync_is_not_charged_while_a_producer_of_the_process_is_hot(tmp_path: Path) -> None:
    writer = MetricWriter(tmp_path, rank=0, background=False)
    writer.log_array("x", np.arange(20_000, dtype=np.float64))
    writer.close()
    opts = options(delivery_share=0.0005, quiet_after=3600.0)
    shared_budget(0.0005).note_producer(time.monotonic())  # a live run's lane, say
    backend = Costly()
    report = sync_run(tmp_path, backend, options=opts, timeout=60.0)
    assert report.rows_delivered == 20_000
    assert backend.steps == list(range(20_000))
    assert max(backend.sizes) > 1024  # whole store reads, not budget-sized items


def test_lanes_with_the_same_options_share_the_process_budget(tmp_path: Path) -> None:
    opts = options(delivery_share=0.07)
    a = Orchestrator([Costly()], run_dir=tmp_path / "a", options=opts)
    b = Orchestrator([Costly2()], run_dir=tmp_path / "b", options=opts)
    assert a.lanes[0].budget is b.lanes[0].budget is shared_budget(0.07)


# ---- settings ------------------------------------------------------------------------------


def test_the_settings_give_the_share_and_a_quiet_time_from_the_flush_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opts = delivery_options(FerrotrackSettings(flush_interval=3.0))
    assert opts.delivery_share == 0.05
    assert opts.quiet_after == 6.0
    given_ = FerrotrackSettings(orchestrator={"delivery_share": 0.2, "quiet_after": 1.5})
    assert (delivery_options(given_).delivery_share, delivery_options(given_).quiet_after) == (
        0.2,
        1.5,
    )
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__DELIVERY_SHARE", "1")
    assert delivery_options(FerrotrackSettings()).delivery_share == 1.0
    monkeypatch.delenv("FERROTRACK_ORCHESTRATOR__DELIVERY_SHARE")
    with pytest.raises(InvalidArgumentError, match="delivery_share"):
        FerrotrackSettings(orchestrator={"delivery_share": 0})


class Opens(Costly):
    """Records when its remote run was opened."""

    label = "opens"

    def open_run(self, info: object, state: dict[str, object]) -> None:
        self.opened = time.monotonic()


def test_opening_a_mirror_never_waits_for_the_budget(tmp_path: Path) -> None:
    """However deep in debt a hot process is, a lane opens its remote run at once (a child
    run's mirror looks up its parent's remote id); the opening is still paid for."""
    budget = Budget(0.001, window=1.0)
    now = time.monotonic()
    budget.note_producer(now)
    budget.charge(10.0, now)  # 10 s owed at 1 ms a second: points would wait hours
    backend = Opens()
    opts = options(quiet_after=3600.0)
    orch = Orchestrator([backend], run_dir=tmp_path, options=opts, budget=budget)
    orch.start()
    assert poll(lambda: hasattr(backend, "opened"), 10.0)
    orch.close()
