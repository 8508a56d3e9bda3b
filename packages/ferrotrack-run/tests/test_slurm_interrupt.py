"""Ctrl-C of a python process waiting on Slurm: its job (or whole array) is cancelled, squeue
lists nothing of it, its processes are gone and its runs are recorded killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import polars as pl
import pytest
from run_fixtures import MARK, processes_with, wait_for
from slurm_cluster import SlurmCluster, slurm_cluster
from test_slurm_run import sleeping

import ferrotrack.core as ft
from ferrotrack.run import ModelRun
from ferrotrack.run.backends import slurm
from ferrotrack.run.backends.slurm import SlurmBackend

__all__ = ["slurm_cluster"]  # the fixture used here

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import os
    import sys
    from ferrotrack.run import ModelRun
    from ferrotrack.run.backends.slurm import SlurmBackend

    mode, folder = sys.argv[1:]
    env = {"FT_TEST_MARK": os.environ["FT_TEST_MARKER"]}  # the job's processes carry it
    command = "sleep 60"
    try:
        if mode == "one":
            model = ModelRun(run_id="sigint", output_dir=folder, env_vars=env, command=command)
            models = [model]
            model.run(backend="slurm")
        else:
            models = [ModelRun(run_id=f"sigint-{i}", output_dir=folder, env_vars=env,
                               command=command) for i in range(4)]
            SlurmBackend().run_many(models, max_concurrency=2)
    except KeyboardInterrupt:
        print(" ".join(f"{m.tracked_run.run_id}={m.tracked_run.tags['ferrotrack.slurm_job']}"
                       for m in models))
        sys.exit(130)
    """
)


@pytest.mark.parametrize(("mode", "running"), [("one", 1), ("array", 2)])
def test_ctrl_c_cancels_the_jobs_and_marks_the_runs_killed(
    root: Path, tmp_path: Path, slurm_cluster: SlurmCluster, mode: str, running: int
) -> None:
    marker = f"ft-slurm-sigint-{uuid.uuid4().hex}"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(tmp_path / "runs")],
        env={**os.environ, "FT_TEST_MARKER": marker},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for("the job runs", lambda: sleeping(marker) >= running)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    pairs = dict(item.split("=") for item in out.split())
    jobs = {job.split("_")[0] for job in pairs.values()}
    assert len(jobs) == 1  # one job, or one array job for all
    assert slurm_cluster.queued(jobs.pop()) == []  # gone before the child exited
    wait_for("nothing is left running", lambda: not processes_with(marker), 10)
    statuses = ft.runs(root).filter(pl.col("run_id").is_in(list(pairs)))["status"].to_list()
    assert statuses == ["killed"] * len(pairs)


@pytest.mark.parametrize("many", [False, True])
def test_ctrl_c_as_sbatch_returns_cancels_the_job(
    root: Path, slurm_cluster: SlurmCluster, monkeypatch: pytest.MonkeyPatch, many: bool
) -> None:
    """Ctrl-C after the controller accepted the job, before its id was read: the real
    sbatch ran, then the interrupt; the job is found by its working folder and cancelled."""
    real = slurm._sbatch
    submitted: list[str] = []

    def sbatch_then_interrupt(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        done = real(argv, cwd)
        submitted.append(done.stdout.strip().split(";")[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(slurm, "_sbatch", sbatch_then_interrupt)
    marker = f"ft-slurm-early-{uuid.uuid4().hex}"
    models = [
        ModelRun(run_id=f"early-{i}", env_vars={MARK: marker}, command="sleep 60")
        for i in range(2 if many else 1)
    ]
    backend = SlurmBackend()
    start = (lambda: backend.run_many(models)) if many else (lambda: backend.run(models[0]))
    with pytest.raises(KeyboardInterrupt):
        start()
    assert len(submitted) == 1
    job = submitted[0]
    assert job.isdigit()
    assert slurm_cluster.queued(job) == []  # cancelled and gone before the raise
    state = slurm_cluster.command("scontrol", "show", "job", "-o", job).stdout
    assert "JobState=CANCELLED" in state, state
    for model in models:
        assert model.tracked_run is not None
        assert model.tracked_run.status == "killed"
    wait_for("nothing is left running", lambda: not processes_with(marker), 10)
