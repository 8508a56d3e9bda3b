"""The slurm backend against a real single-node cluster (slurmctld, slurmd, munged): what a
job's run records, how it ends (exit, timeout, cancel, missing command, a refusal), and that
nothing it submitted is left in the queue or running."""

from __future__ import annotations

import contextlib
import hashlib
import re
import sys
import threading
import uuid
from pathlib import Path

import polars as pl
import psutil
import pytest
from run_fixtures import MARK, log_text, processes_with, py, wait_for
from slurm_cluster import SlurmCluster, slurm_cluster

import ferrotrack.core as ft
from ferrotrack.run import ModelRun
from ferrotrack.run.backends.slurm import SlurmBackend
from ferrotrack.run.execution import cancel

__all__ = ["slurm_cluster"]  # the fixture used here

pytestmark = pytest.mark.slow


def job_field(cluster: SlurmCluster, job: str, name: str) -> str:
    """One field of ``scontrol show job`` (the job stays known for MinJobAge)."""
    out = cluster.command("scontrol", "show", "job", "-o", job)
    assert out.returncode == 0, out.stderr
    found = re.search(rf"(?:^|\s){name}=(\S*)", out.stdout)
    assert found, out.stdout
    return found.group(1)


def sleeping(marker: str) -> int:
    """How many ``sleep`` processes carry ``marker`` in their environment."""
    count = 0
    for proc in processes_with(marker):
        with contextlib.suppress(psutil.Error):
            count += proc.name() == "sleep"
    return count


def metrics(run: ft.Run) -> pl.DataFrame:
    return ft.metrics(run.root, runs=[run.run_id]).collect()


def test_a_job_records_status_exit_code_logs_and_its_id(
    root: Path, slurm_cluster: SlurmCluster
) -> None:
    model = ModelRun(
        run_id="job",
        config={"lr": 0.1},
        env_vars={"MODEL_CONFIG": "production"},
        command=py(
            "import os, sys\nimport ferrotrack.core as ft\n"
            "for i in range(3): ft.log('child/loss', 1.0 / (i + 1), i)\n"
            "print('to out', os.environ['MODEL_CONFIG'], os.environ['SLURM_JOB_ID'])\n"
            "print('to err', file=sys.stderr)"
        ),
    )
    assert SlurmBackend().run(model, partition="batch", job_name="ft-test") is True
    run = model.tracked_run
    assert run is not None
    assert run.status == "finished"
    job = run.tags["ferrotrack.slurm_job"]
    assert run.tags["ferrotrack.exit_code"] == "0"
    assert run.tags["ferrotrack.backend"] == "slurm"
    assert log_text(run.run_dir) == f"to out production {job}\n"
    assert log_text(run.run_dir, "stderr") == "to err\n"
    assert run.params["run_backend"]["partition"] == "batch"
    assert job_field(slurm_cluster, job, "JobState") == "COMPLETED"
    assert job_field(slurm_cluster, job, "Partition") == "batch"
    assert job_field(slurm_cluster, job, "JobName") == "ft-test"
    frame = metrics(run)
    child = frame.filter(pl.col("name").cast(pl.String) == "child/loss")
    assert child["step"].to_list() == [0, 1, 2]  # the job's own logging, in the same run
    assert child["rank"].to_list() == [1] * 3
    summary = dict(zip(frame["name"].cast(pl.String), frame["value"], strict=False))
    assert summary["run/exit_code"] == 0
    assert 0 <= summary["run/duration_s"] < 30
    assert slurm_cluster.queued(job) == []


def test_a_non_zero_exit_fails_with_the_status(root: Path, slurm_cluster: SlurmCluster) -> None:
    model = ModelRun(run_id="bad", command=py("import sys; print('partial'); sys.exit(3)"))
    assert SlurmBackend().run(model) is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert run.tags["ferrotrack.exit_code"] == "3"
    assert run.tags["ferrotrack.reason"] == "exited with status 3"
    assert log_text(run.run_dir) == "partial\n"
    assert job_field(slurm_cluster, run.tags["ferrotrack.slurm_job"], "ExitCode") == "3:0"


def test_a_missing_command_says_so(root: Path, slurm_cluster: SlurmCluster) -> None:
    model = ModelRun(run_id="missing", command=["no-such-model-binary", "--steps", "3"])
    assert SlurmBackend().run(model) is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert run.tags["ferrotrack.reason"] == (
        "command not found (exit status 127): no-such-model-binary"
    )
    assert "no-such-model-binary" in log_text(run.run_dir, "stderr")


def test_resources_and_work_dir_reach_the_job(
    root: Path, tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    model = ModelRun(run_id="res", command="pwd; echo $SLURM_CPUS_PER_TASK $EXTRA")
    ok = SlurmBackend().run(
        model,
        time_limit="00:05:00",
        cpus_per_task=2,
        mem="100M",
        work_dir=work,
        env_vars={"EXTRA": "from-config"},
        additional_options=["--comment=ferrotrack"],
    )
    run = model.tracked_run
    assert run is not None
    assert ok, run.tags
    assert log_text(run.run_dir).splitlines() == [str(work), "2 from-config"]
    job = run.tags["ferrotrack.slurm_job"]
    assert job_field(slurm_cluster, job, "TimeLimit") == "00:05:00"
    assert job_field(slurm_cluster, job, "MinMemoryNode") == "100M"


def test_a_timeout_cancels_the_job(root: Path, slurm_cluster: SlurmCluster) -> None:
    marker = f"ft-slurm-timeout-{uuid.uuid4().hex}"
    model = ModelRun(run_id="slow", env_vars={MARK: marker}, command="sleep 60", timeout=1.5)
    assert SlurmBackend().run(model) is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    job = run.tags["ferrotrack.slurm_job"]
    assert run.tags["ferrotrack.reason"] == (
        f"timed out after 1.5 s of running; Slurm job {job} was cancelled (scancel)"
    )
    assert slurm_cluster.queued(job) == []  # backend waited until squeue lists nothing
    assert job_field(slurm_cluster, job, "JobState") == "CANCELLED"
    assert job_field(slurm_cluster, job, "TimeLimit") == "00:02:00"  # the --time backstop
    wait_for("the command is gone", lambda: not processes_with(marker), 10)


def test_the_cancel_file_cancels_the_job(root: Path, slurm_cluster: SlurmCluster) -> None:
    marker = f"ft-slurm-cancel-{uuid.uuid4().hex}"
    model = ModelRun(run_id="cancelled", env_vars={MARK: marker}, command="echo started; sleep 60")
    outcome: list[bool] = []
    worker = threading.Thread(target=lambda: outcome.append(SlurmBackend().run(model)))
    worker.start()
    wait_for("the job runs", lambda: sleeping(marker) == 1)
    run = model.tracked_run
    assert run is not None
    cancel(run.run_dir)
    worker.join(timeout=60)
    assert outcome == [False]
    assert run.status == "killed"
    job = run.tags["ferrotrack.slurm_job"]
    assert run.tags["ferrotrack.reason"] == (f"cancelled; Slurm job {job} was cancelled (scancel)")
    assert slurm_cluster.queued(job) == []
    wait_for("nothing is left running", lambda: not processes_with(marker), 10)


def test_a_refused_job_fails_with_sbatch_reason(root: Path, slurm_cluster: SlurmCluster) -> None:
    model = ModelRun(run_id="refused", command="true")
    assert SlurmBackend().run(model, partition="nonexistent") is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert run.tags["ferrotrack.reason"] == (
        "sbatch refused the job: Invalid partition name specified"
    )


def test_a_model_run_without_command_submits_nothing(
    root: Path, slurm_cluster: SlurmCluster
) -> None:
    model = ModelRun(run_id="inputs-only", templates={"a.txt": "x"})
    assert SlurmBackend().run(model) is True
    assert (model.staging_dir / "a.txt").read_text() == "x"
    run = model.tracked_run
    assert run is not None
    assert "ferrotrack.slurm_job" not in run.tags


def test_the_entry_point_finds_the_backend(root: Path, slurm_cluster: SlurmCluster) -> None:
    model = ModelRun(run_id="by-name", command=[sys.executable, "-c", "print('by name')"])
    assert model.run(backend="slurm") is True
    assert model.tracked_run is not None
    assert log_text(model.tracked_run.run_dir) == "by name\n"


def test_environment_values_never_stay_on_disk(
    root: Path, tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    """A secret in env_vars reaches the job (and a model's own SLURM_* variable does too),
    through a 0600 file removed once the run is recorded: no file keeps the value."""
    secret = f"s3cret-{uuid.uuid4().hex}"
    model = ModelRun(
        run_id="secret",
        env_vars={"SECRET_TOKEN": secret, "SLURM_MPI_TYPE": "pmi2"},
        command=py(
            "import hashlib, os, stat\n"
            "env = os.path.join(os.environ['FERROTRACK_RUN_DIR'], 'logs', 'slurm_env.sh')\n"
            "print(hashlib.sha256(os.environ['SECRET_TOKEN'].encode()).hexdigest())\n"
            "print(os.environ['SLURM_MPI_TYPE'], oct(stat.S_IMODE(os.stat(env).st_mode)))"
        ),
    )
    assert SlurmBackend().run(model) is True
    run = model.tracked_run
    assert run is not None
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert log_text(run.run_dir).splitlines() == [digest, "pmi2 0o600"]
    script = run.run_dir / "logs" / "slurm_job.sh"
    assert script.stat().st_mode & 0o777 == 0o600
    assert not (run.run_dir / "logs" / "slurm_env.sh").exists()
    holding = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert holding == []


def test_a_percent_in_the_store_path_is_not_expanded(
    tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    """sbatch expands %j, %a... in --output/--error; a store or output folder holding them
    still gets the job's output (one job and an array)."""
    store = tmp_path / "store%j%a%%x"
    out = tmp_path / "out%j"
    one = ModelRun(run_id="pct", root=store, output_dir=out, command="echo one")
    assert SlurmBackend().run(one) is True, one.tracked_run and one.tracked_run.tags
    assert one.tracked_run is not None
    assert log_text(one.tracked_run.run_dir) == "one\n"
    many = [
        ModelRun(run_id=f"pct-{i}", root=store, output_dir=out, command=f"echo task {i}")
        for i in range(2)
    ]
    assert SlurmBackend().run_many(many) == [True, True]
    for i, model in enumerate(many):
        assert model.tracked_run is not None
        assert log_text(model.tracked_run.run_dir) == f"task {i}\n"


def test_a_command_killed_by_a_signal_says_so(root: Path, slurm_cluster: SlurmCluster) -> None:
    model = ModelRun(run_id="sigkill", command="kill -KILL $$")
    assert SlurmBackend().run(model) is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert run.tags["ferrotrack.reason"] == "killed by SIGKILL (exit status 137)"
