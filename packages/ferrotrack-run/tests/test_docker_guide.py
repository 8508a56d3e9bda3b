"""The guide's Docker block (seed 003), run unchanged against a real engine.

``rompy/schism:latest`` and the ``mpiexec`` in these images are test stand-ins built FROM
scratch (docker_engine.py): the schism script shows its arguments and MODEL_CONFIG and writes
``schism.out``; the mpiexec shim runs the command once and passes ``-n`` on as
``MPIEXEC_SHIM_NP``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docker_engine import (
    MODEL_IMAGE,
    DockerEngine,
    docker_engine,
    docker_images,
    unique,
    write_model_dockerfile,
)

import ferrotrack.core as ft
from ferrotrack.run.model import ModelRun

__all__ = ["docker_engine", "docker_images"]  # fixtures used here

GUIDE = json.loads((Path(__file__).parent / "guide_blocks.json").read_text())
DOCKER_BLOCK = next(
    b["code"] for b in GUIDE["003_dfe535c804c810e5"] if 'backend="docker"' in b["code"]
)


def _outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


@pytest.mark.slow
def test_guide_docker_block(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    Path("data").mkdir()
    Path("data/forcing.nc").write_text("wind")
    write_model_dockerfile(Path("docker"))
    model = ModelRun(
        run_id=unique("guide"),
        output_dir=Path("runs"),
        templates={"param.nml": "dt={{ dt }}"},
        config={"dt": 120},
    )
    namespace: dict[str, object] = {"model": model}
    exec(compile(DOCKER_BLOCK, "guide docker block", "exec"), namespace)
    assert namespace["success"] is True

    folder = model.staging_dir
    assert (folder / "param.nml").read_text() == "dt=120"  # generate() ran before
    schism = _outputs(folder / "schism.out")
    assert schism == {"args": "", "MODEL_CONFIG": "production", "np": "", "data": "forcing.nc "}
    built = _outputs(folder / "model.out")
    assert built == {"version": "1.0.0", "args": "", "np": "8"}  # cpu=8 -> mpiexec -n 8

    runs = ft.runs(experiment="model-runs").sort("started")
    assert runs["status"].to_list() == ["finished", "finished"]
    first, second = runs["tags"].to_list()
    assert first["ferrotrack.image"] == "rompy/schism:latest"
    assert second["ferrotrack.image"].startswith("ferrotrack-build:")
    assert runs["params.run_backend.cpu"].to_list() == [4, 8]
    assert runs["run/exit_code.last"].to_list() == [0.0, 0.0]
    assert model.tracked_run is not None
    logs = model.tracked_run.run_dir / "logs"
    assert "mpiexec shim: np=8 cmd=/usr/local/bin/model" in (logs / "stdout.txt").read_text()
    assert "Successfully tagged ferrotrack-build:" in (logs / "build.txt").read_text()
    assert docker_engine.of_model_run(model.run_id) == []  # remove=True: nothing left


@pytest.mark.slow
def test_pipeline_image_without_executable_runs_its_cmd(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    """The pipeline block's run_kwargs ({"image": "rompy/model:latest", "cpu": 4}): no
    executable and no command, so the image's own CMD runs."""
    model = ModelRun(run_id="cmd", output_dir=Path("runs"))
    assert model.run(backend="docker", image=MODEL_IMAGE, cpu=4) is True
    assert _outputs(model.staging_dir / "model.out")["version"] == "prebuilt"
