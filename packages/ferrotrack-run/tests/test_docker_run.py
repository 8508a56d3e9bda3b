"""The docker backend against a real engine: what reaches the container, what comes back,
and each failure as ``False`` with its reason recorded."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from docker_engine import (
    BUSYBOX_IMAGE,
    DockerEngine,
    docker,
    docker_engine,
    docker_images,
    unique,
)

from ferrotrack.core import Run
from ferrotrack.run.backends.docker import CLI_VARIABLE
from ferrotrack.run.model import ModelRun
from ferrotrack.run.registry import describe_backends

__all__ = ["docker_engine", "docker_images"]  # fixtures used here

pytestmark = pytest.mark.slow


def _run(model: ModelRun, **options: object) -> tuple[bool, Run]:
    ok = model.run(backend="docker", **{"image": BUSYBOX_IMAGE, **options})
    assert model.tracked_run is not None
    return ok, model.tracked_run


def _stdout(run: Run) -> str:
    return (run.run_dir / "logs" / "stdout.txt").read_text()


def test_env_vars_and_run_dir_reach_the_container(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    model = ModelRun(
        run_id="env",
        output_dir=Path("runs"),
        env_vars={"FROM_MODEL": "m 1", "SHARED": "model"},
        command='echo "$FROM_MODEL|$FROM_CONFIG|$SHARED|$HOME_ONLY"; '
        'echo inside > "$FERROTRACK_RUN_DIR/from-container.txt"; pwd',
    )
    ok, run = _run(model, env_vars={"FROM_CONFIG": "c=2", "SHARED": "config"})
    assert ok is True
    lines = _stdout(run).splitlines()
    # the config's value wins; a variable of this process only is not passed in
    assert lines == ["m 1|c=2|config|", str(model.staging_dir.absolute())]
    assert (run.run_dir / "from-container.txt").read_text() == "inside\n"
    assert "c=2" not in str(run.params)  # env values are not recorded
    assert run.params["run_backend"]["env_vars"] == ["FROM_CONFIG", "SHARED"]


def test_a_read_only_volume_reads_but_refuses_writes(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    Path("data").mkdir()
    Path("data/in.txt").write_text("input")
    Path("scratch").mkdir()
    model = ModelRun(
        run_id="vol",
        output_dir=Path("runs"),
        command="cat /data/in.txt && echo out > /scratch/s.txt && touch /data/new",
    )
    ok, run = _run(model, volumes=["./data:/data:ro", "./scratch:/scratch"])
    assert ok is False
    assert _stdout(run) == "input"
    assert "Read-only file system" in (run.run_dir / "logs" / "stderr.txt").read_text()
    assert Path("scratch/s.txt").read_text() == "out\n"  # rw by default
    assert not Path("data/new").exists()
    assert run.status == "failed"
    assert run.tags["ferrotrack.exit_code"] == "1"


def test_exit_code_and_reason_are_recorded(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    model = ModelRun(run_id=unique("exit7"), output_dir=Path("runs"), command="exit 7")
    ok, run = _run(model)
    assert ok is False
    assert run.status == "failed"
    assert run.tags["ferrotrack.exit_code"] == "7"
    assert run.tags["ferrotrack.reason"] == "exited with status 7"
    assert run.summary()["run/exit_code"]["last"] == 7.0
    assert docker_engine.of_model_run(model.run_id) == []


def test_a_missing_image_is_a_clear_failure(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    model = ModelRun(run_id=unique("noimg"), output_dir=Path("runs"))
    ok, run = _run(model, image="rompy/absent:9")
    assert ok is False
    assert run.status == "failed"
    assert run.tags["ferrotrack.reason"] == (
        "image rompy/absent:9 not found locally (no registry is reachable? build it or "
        "docker load it)"
    )
    assert docker_engine.of_model_run(model.run_id) == []


def test_an_executable_missing_in_the_image(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    ok, run = _run(ModelRun(run_id="noexe", output_dir=Path("runs")), executable="/opt/absent")
    assert ok is False
    reason = run.tags["ferrotrack.reason"]
    assert reason.startswith("exited with status 127 (not found): ")
    assert "/opt/absent" in reason


def test_a_missing_host_folder_is_refused(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    ok, run = _run(ModelRun(run_id="novol", output_dir=Path("runs")), volumes=["./nope:/data"])
    assert ok is False
    assert run.tags["ferrotrack.reason"] == (
        f"volume './nope:/data': host path {Path('nope').absolute()} does not exist"
    )


def test_an_unreachable_daemon(
    root: Path,
    docker_engine: DockerEngine,
    docker_images: tuple[str, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    ok, run = _run(ModelRun(run_id="nodaemon", output_dir=Path("runs")))
    assert ok is False
    assert run.tags["ferrotrack.reason"].startswith(
        "docker daemon not reachable at unix:///nonexistent/docker.sock: Cannot connect"
    )


def test_no_docker_client(
    root: Path, docker_engine: DockerEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CLI_VARIABLE, "/nonexistent/docker")
    ok, run = _run(ModelRun(run_id="nocli", output_dir=Path("runs"), command="true"))
    assert ok is False
    assert run.tags["ferrotrack.reason"] == (
        "docker CLI not found: FERROTRACK_DOCKER=/nonexistent/docker is not an executable"
    )
    row = next(r for r in describe_backends() if r["name"] == "docker")
    assert row["available"] is False
    assert "FERROTRACK_DOCKER=/nonexistent/docker" in row["problem"]


def test_user_network_workdir_and_extra_args(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    model = ModelRun(
        run_id="opts",
        output_dir=Path("runs"),
        command="id -u; pwd; cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '; echo $EXTRA",
    )
    ok, run = _run(model, user="1234:1234", work_dir="/tmp", docker_args=["-e", "EXTRA=x"])
    assert ok is True, run.tags
    assert _stdout(run).splitlines() == ["1234", "/tmp", "lo", "x"]  # network none: lo only


def test_cpu_is_capped_at_the_engine_cpus(
    root: Path,
    docker_engine: DockerEngine,
    docker_images: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    quota = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu.max 2>/dev/null | head -1"
    model = ModelRun(run_id="cpus", output_dir=Path("runs"), command=quota)
    with caplog.at_level(logging.WARNING, logger="ferrotrack.run.docker"):
        ok, run = _run(model, cpu=512)
    assert ok is True
    have = int(docker("info", "--format", "{{.NCPU}}", host=docker_engine.host).stdout)
    assert _stdout(run).split()[0] == str(have * 100000)  # --cpus N = N periods of 100 ms
    assert f"cpu=512 but the engine has {have} CPUs" in caplog.text


def test_a_model_work_dir_is_a_host_folder_that_keeps_the_outputs(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    """The model run's work_dir is the host's: mounted at its resolved path, the working
    folder inside, and what the model writes there is on the host afterwards."""
    Path("work").mkdir()
    model = ModelRun(
        run_id=unique("wd"),
        output_dir=Path("runs"),
        work_dir=Path("work"),
        command="pwd; echo out > result.txt",
    )
    ok, run = _run(model)
    assert ok is True, run.tags
    assert _stdout(run) == f"{Path('work').resolve()}\n"
    assert Path("work/result.txt").read_text() == "out\n"


def test_a_missing_model_work_dir_is_refused(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    model = ModelRun(run_id=unique("nowd"), output_dir=Path("runs"), work_dir=Path("absent"))
    ok, run = _run(model)
    assert ok is False
    assert run.tags["ferrotrack.reason"] == (
        f"work_dir absent is not a folder on this host ({Path('absent').resolve()})"
    )
    assert docker_engine.of_model_run(model.run_id) == []
