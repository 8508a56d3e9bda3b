"""The dask backend when things go wrong around the engine: tasks no worker can take, a
worker dying under a task, Ctrl-C while a run is being recorded, cancel_all while the
cluster starts, Ctrl-C during one ``model.run``. Real clusters and real processes."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fixtures import (
    check_single_interrupted,
    dask_session,
    kill_marked,
    marked,
    store_run,
    tags,
    wait_for,
    wait_gone,
)

from ferrotrack.core.plugins.execution import get_execution_plugin
from ferrotrack.run.backends import engine as engine_module
from ferrotrack.run.model import ModelRun

pytestmark = pytest.mark.slow

ONE_SLOT: dict[str, Any] = {"n_workers": 1, "threads_per_worker": 1}
"""A cluster of one worker process with one thread: a second task must queue."""


@pytest.fixture(scope="session")
def dask_engine() -> Iterator[dict[str, Any]]:
    """The session's dask cluster: the backend options that reach it."""
    yield from dask_session()


@pytest.fixture(scope="module")
def one_slot() -> Iterator[dict[str, Any]]:
    """A one-slot LocalCluster of this module (closed with the others at its end)."""
    from ferrotrack.run.backends import dask as dask_backend

    dask_backend.start(**ONE_SLOT)
    yield dict(ONE_SLOT)
    dask_backend.shutdown()


def sleeper(seconds: float, marker: str) -> list[str]:
    return [sys.executable, "-c", f"import time; time.sleep({seconds})", marker]


def test_resources_no_worker_has_fail_at_once_with_the_reason(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any]
) -> None:
    model = ModelRun(run_id="gpu", command="true", output_dir=tmp_path / "out")
    started = time.monotonic()
    assert model.run(backend="dask", resources={"GPU": 1}, **dask_engine) is False
    assert time.monotonic() - started < 30
    reason = tags(model)["ferrotrack.reason"]
    assert "no worker has the resources" in reason, reason
    assert "GPU 1" in reason, reason
    assert store_run(model.tracked_run.run_id)["status"] == "failed"  # type: ignore[union-attr]
    models = [ModelRun(run_id=f"g{i}", command="true", output_dir=tmp_path / "out") for i in (1, 2)]
    backend = get_execution_plugin("run", "dask")
    assert backend.run_many(models, resources={"GPU": 1}, **dask_engine) == [False, False]
    for m in models:
        assert "no worker has the resources" in tags(m)["ferrotrack.reason"]


def test_a_task_no_worker_takes_in_queue_timeout_fails_and_never_runs(
    root: Path, tmp_path: Path, one_slot: dict[str, Any]
) -> None:
    marker = f"ft-queue-{uuid.uuid4().hex}"
    busy = ModelRun(run_id="busy", command=sleeper(6, marker), output_dir=tmp_path / "out")
    queued = ModelRun(run_id="queued", command="echo ran", output_dir=tmp_path / "out")
    backend = get_execution_plugin("run", "dask")
    try:
        results = backend.run_many([busy, queued], max_concurrency=2, queue_timeout=2, **one_slot)
    finally:
        kill_marked(marker)
    assert results == [True, False]
    reason = tags(queued)["ferrotrack.reason"]
    assert reason.startswith("never started within 2 s (queue_timeout)"), reason
    run = queued.tracked_run
    assert run is not None
    assert store_run(run.run_id)["status"] == "failed"
    assert not (run.run_dir / "logs" / "stdout.txt").exists()  # its command never ran


def test_a_lost_worker_fails_the_run_which_is_not_run_again(
    root: Path, tmp_path: Path, one_slot: dict[str, Any]
) -> None:
    marker = f"ft-lost-{uuid.uuid4().hex}"
    starts = tmp_path / "starts"
    command = (
        f"echo start >> {starts}; exec {sys.executable} -c 'import time; time.sleep(60)' {marker}"
    )
    model = ModelRun(run_id="lost", command=command, output_dir=tmp_path / "out")
    killed: list[int] = []

    def kill_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for proc in marked(marker):
                worker = proc.parent()
                while worker is not None and "python" not in worker.name():
                    worker = worker.parent()
                if worker is not None:
                    killed.append(worker.pid)
                    worker.kill()
                    return
            time.sleep(0.05)

    thread = threading.Thread(target=kill_worker, daemon=True)
    thread.start()
    try:
        assert model.run(backend="dask", **one_slot) is False
    finally:
        thread.join(5)
        kill_marked(marker)  # the lost worker's command: ours to end here (see docs/run/dask.md)
    assert killed, "the worker running the task was never found"
    reason = tags(model)["ferrotrack.reason"]
    assert "worker lost" in reason, reason
    assert "not re-run" in reason, reason
    assert store_run(model.tracked_run.run_id)["status"] == "failed"  # type: ignore[union-attr]
    assert starts.read_text() == "start\n"  # once, although the worker died


def test_ctrl_c_while_a_finished_run_is_recorded_ends_the_rest(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C landing just after a reported run was recorded (the signal made to arrive
    there): KeyboardInterrupt (not an error about a closed run), the run still in flight
    ended and recorded killed."""
    marker = f"ft-rerecord-{uuid.uuid4().hex}"
    original = engine_module.FanOut._record
    calls = []

    def record(self: engine_module.FanOut, task: Any, reason: str | None = None) -> None:
        original(self, task, reason)
        calls.append(task.index)
        if len(calls) == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(engine_module.FanOut, "_record", record)
    quick = ModelRun(run_id="quick", command="true", output_dir=tmp_path / "out")
    long = ModelRun(run_id="long", command=sleeper(60, marker), output_dir=tmp_path / "out")
    backend = get_execution_plugin("run", "dask")
    try:
        with pytest.raises(KeyboardInterrupt):
            backend.run_many([quick, long], max_concurrency=2, **dask_engine)
        wait_gone(marker, 10)
    finally:
        kill_marked(marker)
    assert calls[0] == 0
    assert store_run(quick.tracked_run.run_id)["status"] == "finished"  # type: ignore[union-attr]
    assert store_run(long.tracked_run.run_id)["status"] == "killed"  # type: ignore[union-attr]


def test_cancel_all_while_the_cluster_starts_runs_nothing(root: Path, tmp_path: Path) -> None:
    from ferrotrack.run.backends import dask as dask_backend

    ran = tmp_path / "ran"
    models = [
        ModelRun(run_id=f"s{i}", command=f"touch {ran}.{i}", output_dir=tmp_path / "out")
        for i in range(2)
    ]
    backend = get_execution_plugin("run", "dask")

    def stopper() -> None:
        wait_for(lambda: bool(backend._calls), 30, "run_many registered")
        backend.cancel_all()

    thread = threading.Thread(target=stopper, daemon=True)
    thread.start()
    try:  # a cluster config of its own: run_many must start it
        results = backend.run_many(models, n_workers=1, threads_per_worker=3)
    finally:
        thread.join(60)
        dask_backend.shutdown()
    assert results == [False, False]
    assert not list(tmp_path.glob("ran.*"))
    for m in models:
        run = m.tracked_run
        assert run is None or store_run(run.run_id)["status"] == "killed"


def test_ctrl_c_during_one_model_run_leaves_nothing_running(root: Path, tmp_path: Path) -> None:
    check_single_interrupted("dask", {"n_workers": 1}, tmp_path)


def test_the_worker_side_runs_a_command_once(root: Path, tmp_path: Path) -> None:
    """run_once itself: a second call for the same run (an engine retry) runs nothing."""
    from ferrotrack.run.process import CommandSpec

    out = tmp_path / "out.txt"
    spec = CommandSpec(
        argv=["/bin/sh", "-c", "echo x"],
        cwd=str(tmp_path),
        env=dict(os.environ),
        stdout=str(out),
        stderr=str(tmp_path / "err.txt"),
        timeout=10,
    )
    marker = str(tmp_path / ".started")
    assert engine_module.run_once(spec, marker).ok
    again = engine_module.run_once(spec, marker)
    assert not again.ok
    assert again.error is not None
    assert "not re-run" in again.error
    assert out.read_text() == "x\n"
