"""Ending a docker run: a timeout, a cancel or Ctrl-C removes the container itself (killing
the ``docker`` client alone would leave it running), and the run records why."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest
from docker_engine import (
    BUSYBOX_IMAGE,
    DockerEngine,
    docker,
    docker_engine,
    docker_images,
    unique,
    wait_until,
)
from run_fixtures import MARK, processes_with

from ferrotrack.run.backends import docker as docker_backend
from ferrotrack.run.backends.docker import DockerBackend
from ferrotrack.run.execution import cancel
from ferrotrack.run.model import ModelRun

__all__ = ["docker_engine", "docker_images"]  # fixtures used here

pytestmark = pytest.mark.slow


def _sleeping(marker: str) -> int:
    """How many ``sleep`` processes carry ``marker`` (the container's command, not the
    ``docker`` clients, which carry it too)."""
    count = 0
    for proc in processes_with(marker):
        with contextlib.suppress(psutil.Error):
            count += proc.name() == "sleep"
    return count


@pytest.mark.parametrize("init", [True, False])
def test_a_timeout_removes_the_container(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...], init: bool
) -> None:
    """Without --init the command is PID 1 and ignores SIGTERM, so only the removal ends it."""
    marker = unique("mark")
    model = ModelRun(
        run_id=unique(f"timeout-{init}"),
        output_dir=Path("runs"),
        env_vars={MARK: marker},
        command="sleep 60",
    )
    started = time.monotonic()
    ok = model.run(backend="docker", image=BUSYBOX_IMAGE, timeout=1, grace=0.5, init=init)
    took = time.monotonic() - started
    assert ok is False
    assert took < 15
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert run.tags["ferrotrack.reason"].startswith("timed out after ")
    assert docker_engine.of_model_run(model.run_id) == []  # docker ps -a: nothing left
    wait_until("its processes are gone", lambda: not processes_with(marker), 10)


def test_a_timeout_with_remove_false_leaves_a_stopped_container(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    model = ModelRun(run_id=unique("keep"), output_dir=Path("runs"), command="sleep 60")
    assert not model.run(
        backend="docker", image=BUSYBOX_IMAGE, timeout=1, init=False, grace=0.2, remove=False
    )
    try:
        assert docker_engine.of_model_run(model.run_id, running=True) == []
        assert len(docker_engine.of_model_run(model.run_id)) == 1  # kept, stopped, for inspection
    finally:
        for name in docker_engine.of_model_run(model.run_id):
            docker("rm", "-f", name)


def _run_in_thread(backend: DockerBackend, model: ModelRun) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []

    def target() -> None:
        result.append(backend.run(model, image=BUSYBOX_IMAGE, init=False, grace=0.5))

    thread = threading.Thread(target=target)
    thread.start()
    return thread, result


def test_cancel_all_removes_running_containers(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    backend = DockerBackend()
    marker = unique("mark")
    models = [
        ModelRun(
            run_id=unique(f"sweep-{i}"),
            output_dir=Path("runs"),
            env_vars={MARK: marker},
            command="sleep 60",
        )
        for i in (1, 2)
    ]
    threads = [_run_in_thread(backend, model) for model in models]
    try:
        wait_until(
            "both containers running",
            lambda: all(docker_engine.of_model_run(m.run_id, running=True) for m in models),
        )
        wait_until("both commands seen", lambda: _sleeping(marker) == 2)
    finally:
        backend.cancel_all()
        for thread, _ in threads:
            thread.join(30)
    for thread, result in threads:
        assert not thread.is_alive()
        assert result == [False]
    for model in models:
        assert docker_engine.of_model_run(model.run_id) == []
        assert model.tracked_run is not None
        assert model.tracked_run.status == "killed"
    wait_until("their processes are gone", lambda: not processes_with(marker), 10)


def test_the_cancel_file_ends_the_container(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    marker = unique("mark")
    model = ModelRun(
        run_id=unique("cancelled"),
        output_dir=Path("runs"),
        env_vars={MARK: marker},
        command="sleep 60",
    )
    backend = DockerBackend()
    thread, result = _run_in_thread(backend, model)
    try:
        wait_until("running", lambda: bool(docker_engine.of_model_run(model.run_id, running=True)))
        wait_until("the command seen", lambda: _sleeping(marker) == 1)
        assert model.tracked_run is not None
        cancel(model.tracked_run.run_dir)  # what any process sharing the folder can do
        thread.join(30)
    finally:
        if thread.is_alive():
            backend.cancel_all()
            thread.join(30)
    assert result == [False]
    assert model.tracked_run.status == "killed"
    assert docker_engine.of_model_run(model.run_id) == []
    wait_until("its processes are gone", lambda: not processes_with(marker), 10)


CHILD = textwrap.dedent(
    """
    import sys
    from ferrotrack.run.model import ModelRun

    model = ModelRun(
        run_id=sys.argv[1], output_dir="runs", env_vars={"FT_TEST_MARK": sys.argv[3]},
        command="sleep 60",
    )
    model.run(backend="docker", image=sys.argv[2], init=False, grace=0.5)
    """
)


def test_ctrl_c_leaves_no_container(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    """SIGINT to a python process inside model.run: the container goes, the run is killed."""
    run_id = unique("ctrlc")
    marker = unique("mark")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, run_id, BUSYBOX_IMAGE, marker],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            "container running", lambda: bool(docker_engine.of_model_run(run_id, running=True))
        )
        wait_until("the command seen", lambda: _sleeping(marker) == 1)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0
    assert "KeyboardInterrupt" in err
    assert docker_engine.of_model_run(run_id) == []
    wait_until("its processes are gone", lambda: not processes_with(marker), 10)
    runs = list(Path(os.environ["FERROTRACK_ROOT"]).glob("experiment=model-runs/run=*/run.json"))
    assert len(runs) == 1
    assert '"status": "killed"' in runs[0].read_text().replace('":"', '": "')


@pytest.mark.parametrize("error", [KeyboardInterrupt, subprocess.TimeoutExpired])
def test_an_exception_during_create_leaves_no_container(
    root: Path,
    docker_engine: DockerEngine,
    docker_images: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
    error: type[BaseException],
) -> None:
    """Ctrl-C (or the client's timeout) just as the engine made the container, before the
    backend knew: the real ``docker create`` ran, then the exception; the container goes."""
    real = docker_backend._create
    made: list[str] = []

    def create_then_raise(job: object, create: list[str]) -> subprocess.CompletedProcess[str]:
        done = real(job, create)  # type: ignore[arg-type]
        made.append(done.stdout.strip())
        if error is subprocess.TimeoutExpired:
            raise subprocess.TimeoutExpired(create, docker_backend.CLI_TIMEOUT_S)
        raise error

    monkeypatch.setattr(docker_backend, "_create", create_then_raise)
    model = ModelRun(run_id=unique("create"), output_dir=Path("runs"), command="sleep 60")
    if error is KeyboardInterrupt:
        with pytest.raises(KeyboardInterrupt):
            model.run(backend="docker", image=BUSYBOX_IMAGE)
        status, reason = "killed", "interrupted (KeyboardInterrupt)"
    else:
        assert model.run(backend="docker", image=BUSYBOX_IMAGE) is False
        status, reason = "failed", "docker create did not answer within 60 s"
    assert len(made) == 1
    assert made[0]  # the engine did create it (its id)
    assert docker_engine.of_model_run(model.run_id) == []
    assert model.tracked_run is not None
    assert model.tracked_run.status == status
    assert model.tracked_run.tags["ferrotrack.reason"] == reason
