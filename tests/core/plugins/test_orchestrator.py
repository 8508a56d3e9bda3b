"""Delivery: nothing lost, nothing twice, slow and failing backends isolated, sync fills gaps."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.delivery.orchestrator import Orchestrator, OrchestratorOptions, Route
from ferrotrack.core.delivery.replay import sync_run
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins import MetricData
from ferrotrack.core.plugins.arrow import metrics_to_batch
from ferrotrack.core.plugins.processors import EveryNthProcessor

FAST = OrchestratorOptions(
    backoff_initial=0.001, backoff_max=0.01, drain_timeout=20.0, catch_up_retry=0.01
)


def batch_of(points: list[tuple[str, int, float]]) -> pa.RecordBatch:
    return metrics_to_batch([MetricData(n, v, step=s) for n, s, v in points])


def write_and_submit(
    run: Path,
    orch: Orchestrator,
    points: list[tuple[str, int, float]],
    *,
    every: int,
    rank: int = 0,
    skip: frozenset[int] = frozenset(),
) -> None:
    """Logs into a real run and submits each flush like the Rust flush thread would
    (after the segment is in the store); flushes in ``skip`` are never submitted."""
    writer = MetricWriter(run, rank=rank, background=False)
    for k, start in enumerate(range(0, len(points), every)):
        chunk = points[start : start + every]
        for name, step, value in chunk:
            writer.log(name, value, step=step)
        writer.flush()
        if k not in skip:
            orch.submit(rank, start, batch_of(chunk))
    writer.close()


def test_every_point_reaches_a_backend_once_across_flushes(tmp_path: Path, doubles: Any) -> None:
    backend = doubles.Recording()
    points = [(f"m{i % 3}", i, float(i)) for i in range(500)]
    with Orchestrator([backend], run_dir=tmp_path, options=FAST) as orch:
        write_and_submit(tmp_path, orch, points, every=37)
    assert backend.points == points
    cursor = json.loads((tmp_path / "sync" / "recording" / "rank-0.json").read_text())
    assert cursor["rows"] == 500


def test_resubmitted_and_overlapping_batches_are_not_sent_twice(doubles: Any) -> None:
    backend = doubles.Recording()
    points = [("a", i, float(i)) for i in range(10)]
    with Orchestrator([backend], options=FAST) as orch:
        orch.submit(0, 0, batch_of(points[:6]))
        orch.submit(0, 0, batch_of(points[:6]))
        orch.submit(0, 4, batch_of(points[4:]))
    assert backend.points == points


def test_routing_selects_names_per_backend(tmp_path: Path, doubles: Any) -> None:
    train, other = doubles.Recording(), doubles.Slow()
    points = [("train/loss", 0, 1.0), ("val/loss", 0, 2.0), ("train/acc", 0, 3.0)]
    routes = [
        Route(train, include=["train/*"], exclude=["*/acc"]),
        Route(other, exclude=["train/*"]),
    ]
    with Orchestrator(routes, run_dir=tmp_path, options=FAST) as orch:
        write_and_submit(tmp_path, orch, points, every=3)
    assert train.points == [("train/loss", 0, 1.0)]
    assert other.points == [("val/loss", 0, 2.0)]


def test_slow_backend_gets_everything_and_does_not_hold_back_others(
    tmp_path: Path, doubles: Any, waiter: Callable[..., bool]
) -> None:
    slow, fast = doubles.Slow(), doubles.Recording()
    points = [("x", i, float(i)) for i in range(2000)]
    with Orchestrator([slow, fast], run_dir=tmp_path, options=FAST) as orch:
        write_and_submit(tmp_path, orch, points, every=20)  # 100 batches
        assert waiter(lambda: len(fast.points) == 2000)
        # the slow backend got coalesced batches, not one call per submitted batch
    assert slow.points == points
    assert slow.batches < 100


def test_failing_backend_is_degraded_others_unaffected_and_sync_fills_the_gap(
    tmp_path: Path, doubles: Any
) -> None:
    failing, good = doubles.Failing(), doubles.Recording()
    points = [("loss", i, float(i)) for i in range(300)]
    options = OrchestratorOptions(max_failures=3, backoff_initial=0.001, backoff_max=0.002)
    with Orchestrator([failing, good], run_dir=tmp_path, options=options) as orch:
        write_and_submit(tmp_path, orch, points, every=30)
    status = orch.status()
    assert status["failing"]["state"] == "degraded"
    assert status["failing"]["last_error"] == "ConnectionError: backend down"
    assert failing.calls == 3  # retried, then skipped
    assert status["recording"]["state"] == "ok"
    assert good.points == points
    # the backend comes back: sync sends the whole run, once
    failing.fail = False
    report = sync_run(tmp_path, failing)
    assert report.ok
    assert failing.points == points
    again = sync_run(tmp_path, failing)
    assert again.points_sent == 0
    assert failing.points == points


def test_transient_failures_are_retried_without_loss(tmp_path: Path, doubles: Any) -> None:
    class Flaky(doubles.Recording):  # type: ignore[misc]
        def handle_batch(self, batch: pa.RecordBatch) -> None:
            self.calls += 1
            if self.calls % 2:
                raise TimeoutError("try again")
            super().handle_batch(batch)

    backend = Flaky()
    points = [("a", i, float(i)) for i in range(200)]
    with Orchestrator([backend], run_dir=tmp_path, options=FAST) as orch:
        write_and_submit(tmp_path, orch, points, every=10)
    assert backend.points == points
    assert orch.status()["recording"]["failures"] > 0


def test_lagging_backend_catches_up_from_the_store(tmp_path: Path, doubles: Any) -> None:
    backend = doubles.Slow()
    points = [("a", i, float(i)) for i in range(1000)]
    options = OrchestratorOptions(max_pending_rows=50, drain_timeout=20.0, catch_up_retry=0.01)
    with Orchestrator([backend], run_dir=tmp_path, options=options) as orch:
        write_and_submit(tmp_path, orch, points, every=25)
        dropped = orch.status()["slow"]["rows_dropped_from_memory"]
    assert dropped > 0  # the bound was hit...
    assert backend.points == points  # ...and nothing was lost


def test_stateful_processor_sees_each_point_once_across_retries(
    tmp_path: Path, doubles: Any
) -> None:
    class FailTwice(doubles.Recording):  # type: ignore[misc]
        def handle_batch(self, batch: pa.RecordBatch) -> None:
            self.calls += 1
            if self.calls <= 2:
                raise OSError("not yet")
            super().handle_batch(batch)

    backend = FailTwice()
    every = EveryNthProcessor()
    every.initialize({"n": 3})
    points = [("a", i, float(i)) for i in range(30)]
    with Orchestrator([Route(backend, processors=[every])], run_dir=tmp_path, options=FAST) as orch:
        write_and_submit(tmp_path, orch, points, every=7)
    assert backend.points == points[::3]


def test_params_and_status_reach_backends(doubles: Any) -> None:
    backend = doubles.Recording()
    with Orchestrator([backend], options=FAST) as orch:
        orch.log_params({"lr": 0.1})
        orch.set_status("finished")
    assert backend.params == [{"lr": 0.1}]
    assert backend.statuses == ["finished"]


def test_submit_rejects_negative_positions(doubles: Any) -> None:
    orch = Orchestrator([doubles.Recording()])
    with pytest.raises(InvalidArgumentError, match="first_row"):
        orch.submit(0, -1, batch_of([("a", 0, 1.0)]))
    orch.close()


_names = st.sampled_from(["train/loss", "train/acc", "val/loss", "lr", "sys/cpu"])


@given(
    rank_points=st.lists(
        st.lists(st.tuples(_names, st.floats(-1e6, 1e6)), min_size=0, max_size=120),
        min_size=1,
        max_size=2,
    ),
    every=st.integers(1, 40),
    skipped=st.frozensets(st.integers(0, 20), max_size=5),
    bound=st.sampled_from([5, 50, 1_000_000]),
    fail_first=st.integers(0, 2),
)
def test_property_exactly_once_per_selecting_backend(  # noqa: PLR0917
    tmp_path_factory: pytest.TempPathFactory,
    doubles: Any,
    rank_points: list[list[tuple[str, float]]],
    every: int,
    skipped: frozenset[int],
    bound: int,
    fail_first: int,
) -> None:
    run = tmp_path_factory.mktemp("run")

    class Flaky(doubles.Recording):  # type: ignore[misc]
        def handle_batch(self, batch: pa.RecordBatch) -> None:
            self.calls += 1
            if self.calls <= fail_first:
                raise OSError("flaky")
            super().handle_batch(batch)

    everything, train_only, not_train = doubles.Recording(), Flaky(), doubles.Recording()
    routes = [
        Route(everything, name="all"),
        Route(train_only, include=["r*/train/*"], name="train"),
        Route(not_train, exclude=["*/train/*"], name="rest"),
    ]
    options = OrchestratorOptions(
        max_pending_rows=bound,
        max_batch_rows=64,
        backoff_initial=0.001,
        backoff_max=0.002,
        drain_timeout=30.0,
        catch_up_retry=0.01,
    )
    expected: list[tuple[str, int, float]] = []
    with Orchestrator(routes, run_dir=run, options=options) as orch:
        for rank, raw in enumerate(rank_points):
            points = [(f"r{rank}/{n}", i, v) for i, (n, v) in enumerate(raw)]
            expected += points
            write_and_submit(run, orch, points, every=every, rank=rank, skip=skipped)
    selections: list[tuple[Any, Callable[[str], bool]]] = [
        (everything, lambda n: True),
        (train_only, lambda n: "/train/" in n),
        (not_train, lambda n: "/train/" not in n),
    ]
    for backend, keep in selections:
        want = [p for p in expected if keep(p[0])]
        assert sorted(backend.points) == sorted(want)
        for rank in range(len(rank_points)):  # and in order within a rank
            prefix = f"r{rank}/"
            assert [p for p in backend.points if p[0].startswith(prefix)] == [
                p for p in want if p[0].startswith(prefix)
            ]
