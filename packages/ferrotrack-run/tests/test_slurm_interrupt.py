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
from run_fixtures import processes_with, wait_for
from slurm_cluster import SlurmCluster, slurm_cluster

import ferrotrack.core as ft

__all__ = ["slurm_cluster"]  # the fixture used here

pytestmark = pytest.mark.slow

CHILD = textwrap.dedent(
    """
    import os
    import sys
    from ferrotrack.run import ModelRun
    from ferrotrack.run.backends.slurm import SlurmBackend

    mode, folder = sys.argv[1:]
    marker = os.environ["FT_TEST_MARKER"]  # not in this process's own command line
    command = f"sleep 60 # {marker}"
    try:
        if mode == "one":
            model = ModelRun(run_id="sigint", output_dir=folder, command=command)
            models = [model]
            model.run(backend="slurm")
        else:
            models = [ModelRun(run_id=f"sigint-{i}", output_dir=folder, command=command)
                      for i in range(4)]
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
        wait_for("the job runs", lambda: len(processes_with(marker)) >= running)
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
