"""Many model runs as ONE Slurm array job: a concurrency limit Slurm enforces, each task its
own ferrotrack run with its own logs and outcome, and cancel_all leaving nothing behind."""

from __future__ import annotations

import re
import threading
import uuid
from pathlib import Path

import pytest
from run_fixtures import MARK, log_text, processes_with, py, wait_for
from slurm_cluster import SlurmCluster, slurm_cluster
from test_slurm_run import sleeping

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.run import ModelRun
from ferrotrack.run.backends.slurm import SlurmBackend

__all__ = ["slurm_cluster"]  # the fixture used here

pytestmark = pytest.mark.slow


def array_of(model: ModelRun) -> tuple[str, str]:
    """(array job, task) of the model run's last execution."""
    assert model.tracked_run is not None
    job = model.tracked_run.tags["ferrotrack.slurm_job"]
    array, _, task = job.partition("_")
    return array, task


def test_five_runs_one_array_at_most_two_at_once(
    root: Path, tmp_path: Path, slurm_cluster: SlurmCluster
) -> None:
    spans = tmp_path / "spans"
    spans.mkdir()
    models = [
        ModelRun(
            run_id=f"point-{i}",
            config={"i": i},
            command=py(
                "import sys, time\n"
                f"start = time.time(); print('point', {i}); time.sleep(0.8)\n"
                f"open({str(spans / str(i))!r}, 'w').write(f'{{start}} {{time.time()}}')"
            ),
        )
        for i in range(5)
    ]
    assert SlurmBackend().run_many(models, max_concurrency=2) == [True] * 5
    arrays = {array_of(model)[0] for model in models}
    assert len(arrays) == 1  # one sbatch for all five
    (array,) = arrays
    assert [array_of(model)[1] for model in models] == ["0", "1", "2", "3", "4"]
    for i, model in enumerate(models):
        run = model.tracked_run
        assert run is not None
        assert run.status == "finished"
        assert run.params["i"] == i
        assert log_text(run.run_dir) == f"point {i}\n"
    intervals = [tuple(map(float, (spans / str(i)).read_text().split())) for i in range(5)]
    for start, _ in intervals:
        assert sum(1 for s, e in intervals if s <= start < e) <= 2
    out = slurm_cluster.command("scontrol", "show", "job", "-o", array)
    assert re.search(r"ArrayTaskThrottle=2\b", out.stdout), out.stdout
    assert slurm_cluster.queued(array) == []


def test_each_task_ends_its_own_way(root: Path, slurm_cluster: SlurmCluster) -> None:
    marker = f"ft-slurm-array-timeout-{uuid.uuid4().hex}"
    commands: list[str | list[str]] = [
        "echo fine",
        py("import sys; sys.exit(5)"),
        ["no-such-model-binary"],
        "sleep 60",
    ]
    models = [
        ModelRun(run_id=f"mixed-{i}", env_vars={MARK: marker}, command=command, timeout=2.0)
        for i, command in enumerate(commands)
    ]
    assert SlurmBackend().run_many(models, max_concurrency=4) == [True, False, False, False]
    reasons = []
    for model in models[1:]:
        assert model.tracked_run is not None
        assert model.tracked_run.status == "failed"
        reasons.append(model.tracked_run.tags["ferrotrack.reason"])
    array, _ = array_of(models[0])
    assert reasons == [
        "exited with status 5",
        "command not found (exit status 127): no-such-model-binary",
        f"timed out after 2 s of running; Slurm job {array}_3 was cancelled (scancel)",
    ]
    assert slurm_cluster.queued(array) == []
    wait_for("nothing is left running", lambda: not processes_with(marker), 10)


def test_cancel_all_ends_the_whole_array(root: Path, slurm_cluster: SlurmCluster) -> None:
    marker = f"ft-slurm-array-cancel-{uuid.uuid4().hex}"
    models = [
        ModelRun(run_id=f"long-{i}", env_vars={MARK: marker}, command="sleep 60") for i in range(4)
    ]
    backend = SlurmBackend()
    outcome: list[list[bool]] = []
    worker = threading.Thread(target=lambda: outcome.append(backend.run_many(models)))
    worker.start()
    wait_for("two tasks run", lambda: sleeping(marker) >= 2)
    array, _ = array_of(models[0])
    backend.cancel_all()
    assert slurm_cluster.queued(array) == []  # cancel_all waited for the queue to empty
    worker.join(timeout=60)
    assert outcome == [[False] * 4]
    for model in models:
        assert model.tracked_run is not None
        assert model.tracked_run.status == "killed", model.tracked_run.tags
    # the two pending tasks never started: the array was cancelled whole, before a running
    # task's cancel could free a slot for one (its launch could escape the cancel)
    runs = [m.tracked_run for m in models if m.tracked_run is not None]
    started = [(run.run_dir / "logs" / "slurm_started").exists() for run in runs]
    assert sorted(started) == [False, False, True, True]
    wait_for("nothing is left running", lambda: not processes_with(marker), 10)


def test_a_bad_concurrency_is_refused(root: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="max_concurrency: expected >= 1, got 0"):
        SlurmBackend().run_many([ModelRun(run_id="x", command="true")], max_concurrency=0)


def test_the_config_limit_and_the_argument_take_the_smaller(
    root: Path, slurm_cluster: SlurmCluster
) -> None:
    models = [ModelRun(run_id=f"small-{i}", command="true") for i in range(3)]
    backend = SlurmBackend()
    assert backend.run_many(models, max_concurrency=3, max_array_concurrency=1) == [True] * 3
    array, _ = array_of(models[0])
    out = slurm_cluster.command("scontrol", "show", "job", "-o", array)
    assert re.search(r"ArrayTaskThrottle=1\b", out.stdout), out.stdout
