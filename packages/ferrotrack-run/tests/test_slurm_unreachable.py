"""Slurm out of reach: a controller that does not answer, a SLURM_CONF that names no file,
no sbatch at all. Each is ``False`` with the reason, and the run recorded as failed."""

from __future__ import annotations

from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, slurm_cluster

from ferrotrack.core.errors import MissingDependencyError
from ferrotrack.run import ModelRun
from ferrotrack.run.backends.slurm import SlurmBackend

__all__ = ["slurm_cluster"]  # the fixture used here

pytestmark = pytest.mark.slow


def failed_reason(model: ModelRun) -> str:
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert "ferrotrack.slurm_job" not in run.tags
    return run.tags["ferrotrack.reason"]


def test_an_unreachable_controller_fails_with_the_reason(
    root: Path, tmp_path: Path, slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = slurm_cluster.dead_conf(tmp_path)
    monkeypatch.setenv("SLURM_CONF", str(dead))
    model = ModelRun(run_id="nowhere", command="true")
    assert SlurmBackend().run(model) is False
    assert failed_reason(model) == (
        f"Slurm controller not reachable (configured by {dead}): Unable to contact slurm "
        "controller (connect failure)"
    )


def test_an_unreachable_controller_fails_every_run_of_an_array(
    root: Path, tmp_path: Path, slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLURM_CONF", str(slurm_cluster.dead_conf(tmp_path)))
    models = [ModelRun(run_id=f"nowhere-{i}", command="true") for i in range(3)]
    assert SlurmBackend().run_many(models, max_concurrency=2) == [False] * 3
    for model in models:
        assert failed_reason(model).startswith("Slurm controller not reachable")


def test_a_slurm_conf_that_is_not_a_file(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-slurm.conf"
    monkeypatch.setenv("SLURM_CONF", str(missing))
    model = ModelRun(run_id="no-conf", command="true")
    assert SlurmBackend().run(model) is False
    assert failed_reason(model) == f"SLURM_CONF points at {missing}, which is not a file"


def test_no_sbatch_on_path(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    model = ModelRun(run_id="no-sbatch", command="true")
    assert SlurmBackend().run(model) is False
    assert failed_reason(model) == (
        "sbatch not found: install Slurm's client commands (Debian: slurm-client) or put "
        "them on PATH"
    )
    with pytest.raises(MissingDependencyError, match="the slurm run backend: sbatch not found"):
        SlurmBackend.check_available()  # what `ferrotrack backends list` shows
