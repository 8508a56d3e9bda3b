"""Images built from a Dockerfile: build args reach the build, a build happens once per
content (tagged by hash), and a failing build is a failed run pointing at its log."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_engine import (
    BUSYBOX_IMAGE,
    DockerEngine,
    docker_engine,
    docker_images,
    write_model_dockerfile,
)

from ferrotrack.core import Run
from ferrotrack.run.model import ModelRun

__all__ = ["docker_engine", "docker_images"]  # fixtures used here

pytestmark = pytest.mark.slow


def _run(run_id: str, **options: object) -> tuple[bool, Run]:
    model = ModelRun(run_id=run_id, output_dir=Path("runs"))
    ok = model.run(backend="docker", **options)
    assert model.tracked_run is not None
    return ok, model.tracked_run


def _build_leftovers(engine: DockerEngine) -> list[str]:
    """Stopped containers of busybox's lineage not made by the backend (build steps)."""
    found = engine.containers("status=exited", f"ancestor={BUSYBOX_IMAGE}")
    return [name for name in found if not name.startswith("ft-")]


def _out(run: Run, name: str) -> str:
    return (run.run_dir / "logs" / name).read_text()


def test_build_args_reach_the_build_and_a_build_happens_once(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    write_model_dockerfile(Path("docker"))
    ok, first = _run("b1", dockerfile="docker/Dockerfile", build_args={"MODEL_VERSION": "2.5"})
    assert ok is True
    assert _out(first, "stdout.txt") == "model version=2.5 args: \n"
    assert "Successfully tagged" in _out(first, "build.txt")

    ok, again = _run("b2", dockerfile="docker/Dockerfile", build_args={"MODEL_VERSION": "2.5"})
    assert ok is True
    assert not (again.run_dir / "logs" / "build.txt").exists()  # same content: no build
    assert again.tags["ferrotrack.image"] == first.tags["ferrotrack.image"]

    ok, other = _run("b3", dockerfile="docker/Dockerfile", build_args={"MODEL_VERSION": "3.0"})
    assert ok is True
    assert _out(other, "stdout.txt") == "model version=3.0 args: \n"
    assert other.tags["ferrotrack.image"] != first.tags["ferrotrack.image"]

    Path("docker/model").write_text("#!/bin/sh\necho edited\n")  # the context changed
    ok, edited = _run("b4", dockerfile="docker/Dockerfile", build_args={"MODEL_VERSION": "2.5"})
    assert ok is True
    assert _out(edited, "stdout.txt") == "edited\n"


def test_a_separate_build_context(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    Path("ctx").mkdir()
    Path("ctx/hello.txt").write_text("from the context\n")
    Path("build.Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\nCOPY hello.txt /hello.txt\n")
    ok, run = _run(
        "ctx", dockerfile="build.Dockerfile", build_context="ctx", executable="cat /hello.txt"
    )
    assert ok is True
    assert _out(run, "stdout.txt") == "from the context\n"


def test_a_failing_build(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    Path("bad").mkdir()
    Path("bad/Dockerfile").write_text(f"FROM {BUSYBOX_IMAGE}\nRUN echo broken-step && exit 3\n")
    others = set(_build_leftovers(docker_engine))
    ok, run = _run("badbuild", dockerfile="bad/Dockerfile")
    assert ok is False
    assert run.status == "failed"
    reason = run.tags["ferrotrack.reason"]
    dockerfile = Path("bad/Dockerfile").absolute()
    log = run.run_dir / "logs" / "build.txt"
    assert reason == (
        f"docker build of {dockerfile} exited with status 3; see {log}: "
        "The command '/bin/sh -c echo broken-step && exit 3' returned a non-zero code: 3"
    )
    assert "broken-step" in _out(run, "build.txt")
    assert docker_engine.of_model_run(run.tags["ferrotrack.model_run"]) == []
    assert set(_build_leftovers(docker_engine)) <= others  # --force-rm: the failed step's too


def test_a_missing_dockerfile(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    ok, run = _run("nodf", dockerfile="docker/Nope")
    assert ok is False
    assert run.tags["ferrotrack.reason"] == (
        f"dockerfile docker/Nope not found (looked at {Path('docker/Nope').absolute()})"
    )
