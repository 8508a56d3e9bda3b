"""Trials handed to a run backend (``executor``): each trial a real process started by the
``local`` run backend of ferrotrack-run, found by entry point. Results as in one process,
each process's logs recorded, the concurrency limit kept, failures reported."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import psutil
import pytest
from experiment_fixtures import runs_at, write_experiment_config

from ferrotrack.core.store.catalog import list_runs
from ferrotrack.experiment import ConfigError, Experiment, UnknownNameError

FERROTRACK = str(Path(sys.executable).parent / "ferrotrack")

PIPELINES = '''
import json, os, signal, time
from ferrotrack.experiment import Metric, Pipeline, RunStatus, YAMLSerializable


@YAMLSerializable.register("ExecTiny")
class ExecTiny(Pipeline):
    """Holds for a moment (recording when it ran), logs a loss per epoch, then fails or
    dies when told to."""

    @Pipeline.run_wrapper
    def run(self, config):
        started = time.time()
        time.sleep(config.pipeline.hold)
        for epoch in range(2):
            self.run_epoch(epoch, config)
        self.run_metrics[Metric.TEST_LOSS] = config.pipeline.lr * 10 + config.repeat
        name = f"{config.pipeline.tag}-{config.repeat}-{os.getpid()}"
        with open(os.path.join(config.pipeline.times, name), "w") as f:
            json.dump([started, time.time()], f)
        if config.pipeline.get("fail"):
            raise ValueError("boom")
        if config.pipeline.get("die"):
            os.kill(os.getpid(), signal.SIGKILL)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx, config):
        self.epoch_metrics[Metric.TRAIN_LOSS] = config.pipeline.lr / (epoch_idx + 1)
        return RunStatus.COMPLETED
'''


def load_pipelines(tmp_path: Path) -> Path:
    """Writes the pipeline module and imports it here by path (as a notebook or a script
    would): the trial processes must be told to import the same file."""
    path = tmp_path / "exec_pipes.py"
    path.write_text(PIPELINES)
    name = f"exec_pipes_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return path


def write_config(tmp_path: Path, trials: list[dict[str, Any]], **env: Any) -> Path:
    times = tmp_path / "times"
    times.mkdir(exist_ok=True)
    return write_experiment_config(
        tmp_path / "cfg",
        trials,
        {
            "name": "tiny",
            "settings": {
                "pipeline": {
                    "type": "ExecTiny",
                    "lr": 0.1,
                    "hold": 0.0,
                    "tag": "t",
                    "times": str(times),
                }
            },
        },
        env={"workspace": "ws", **env},
    )


THREE: list[dict[str, Any]] = [
    {"name": "a", "settings": {"pipeline": {"lr": 0.1, "tag": "a", "hold": 1.0}}},
    {"name": "b", "repeat": 2, "settings": {"pipeline": {"lr": 0.2, "tag": "b", "hold": 1.0}}},
    {"name": "c", "settings": {"pipeline": {"lr": 0.3, "tag": "c", "hold": 1.0}}},
]


def most_at_once(times: Path) -> int:
    spans = [json.loads(p.read_text()) for p in times.iterdir()]
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("run_id")


@pytest.mark.slow
def test_trials_on_the_local_backend_give_the_results_of_one_process(
    root: Path, tmp_path: Path
) -> None:
    load_pipelines(tmp_path)
    config = write_config(tmp_path, THREE)
    here = Experiment.create(config, root=tmp_path / "in-process")
    assert here.run(progress=False).ok
    for file in (tmp_path / "times").iterdir():
        file.unlink()

    experiment = Experiment.create(config)
    outcome = experiment.run(progress=False, executor="local", max_concurrency=2)

    assert outcome.counts == {"completed": 4, "stopped": 0, "failed": 0, "skipped": 0}
    results = experiment.results()
    assert results.schema == here.results().schema
    assert comparable(results).equals(comparable(here.results()))
    assert results["status"].to_list() == ["completed"] * 4
    assert [o.run_id for o in outcome.completed] == [
        r for r in results["run_id"].to_list() if r in {o.run_id for o in outcome.completed}
    ]
    # One process per trial (b's two repeats in one), at most two at once.
    assert len({p.name.rsplit("-", 1)[1] for p in (tmp_path / "times").iterdir()}) == 3
    assert most_at_once(tmp_path / "times") == 2

    # The executor's run of each process: its logs, and the tags that link both ways.
    executions = {
        r.meta["tags"]["ferrotrack.trial"]: r for r in list_runs(root, experiment="tiny.executions")
    }
    assert sorted(executions) == ["a", "b", "c"]
    for trial, record in executions.items():
        assert record.status == "finished"
        assert record.meta["tags"]["ferrotrack.experiment_run"] == outcome.run_id
        assert record.meta["tags"]["ferrotrack.backend"] == "local"
        logs = record.ref.path / "logs"
        assert f"experiment tiny (run {outcome.run_id})" in (logs / "stdout.txt").read_text()
        assert (logs / "stderr.txt").is_file()
        runs = [
            r for r in runs_at(root, "trial_run") if r.meta["tags"]["ferrotrack.trial"] == trial
        ]
        assert {r.meta["tags"]["ferrotrack.execution"] for r in runs} == {record.ref.run_id}
        assert {r.meta["tags"]["ferrotrack.executor"] for r in runs} == {"local"}
    [top] = runs_at(root, "experiment")
    assert top.status == "finished"
    assert {r.meta["parent"] for r in runs_at(root, "trial")} == {top.ref.run_id}


@pytest.mark.slow
def test_a_failing_or_dying_trial_process_is_failed_in_results(root: Path, tmp_path: Path) -> None:
    load_pipelines(tmp_path)
    config = write_config(
        tmp_path,
        [
            {"name": "fine"},
            {"name": "raises", "settings": {"pipeline": {"fail": True}}},
            {"name": "dies", "settings": {"pipeline": {"die": True}}},
        ],
        executor="local",
        max_concurrency=3,
    )
    experiment = Experiment.create(config)
    outcome = experiment.run(progress=False)

    assert outcome.counts == {"completed": 1, "stopped": 0, "failed": 2, "skipped": 0}
    results = experiment.results()
    assert results.select("trial", "status").rows() == [
        ("fine", "completed"),
        ("raises", "failed"),
        ("dies", "failed"),
    ]
    errors = {o.trial: o.error or "" for o in outcome.failed}
    assert errors["raises"] == "ValueError('boom')"
    assert "its process ended: killed by SIGKILL" in errors["dies"]
    dead = next(r for r in runs_at(root, "trial_run") if r.meta["name"] == "dies/0")
    assert dead.status == "failed"
    assert "killed by SIGKILL" in dead.meta["error"]["message"]
    assert dead.meta["tags"]["ferrotrack.outcome"] == "failed"
    [top] = runs_at(root, "experiment")
    assert top.status == "failed"
    statuses = {
        r.meta["tags"]["ferrotrack.trial"]: r.status
        for r in list_runs(root, experiment="tiny.executions")
    }
    assert statuses == {"fine": "finished", "raises": "failed", "dies": "failed"}


def test_an_unknown_executor_lists_the_installed_run_backends(root: Path, tmp_path: Path) -> None:
    load_pipelines(tmp_path)
    experiment = Experiment.create(write_config(tmp_path, [{"name": "a"}]))
    with pytest.raises(
        UnknownNameError, match=r"unknown executor 'nowhere'.*installed run backends: .*local"
    ):
        experiment.run(progress=False, executor="nowhere")
    assert not list_runs(root)

    named = Experiment.create(write_config(tmp_path, [{"name": "a"}], executor="nowhere"))
    with pytest.raises(UnknownNameError, match="unknown executor 'nowhere'"):
        named.run(progress=False)
    assert not list_runs(root)


@pytest.mark.parametrize(
    ("env", "key", "expected"),
    [
        ({"executor": 3}, "executor", "a run backend name"),
        ({"executor": {"image": "x"}}, "executor.type", "a run backend name"),
        ({"executor": "local", "max_concurrency": 0}, "max_concurrency", "an integer ≥ 1"),
        ({"max_concurrency": 2}, "max_concurrency", "applies to an executor"),
    ],
)
def test_bad_executor_settings_in_env_yaml_name_the_key(
    root: Path, tmp_path: Path, env: dict[str, Any], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        Experiment.create(write_config(tmp_path, [{"name": "a"}], **env))
    assert caught.value.key == key


@pytest.mark.slow
def test_the_cli_runs_trials_on_an_executor(root: Path, tmp_path: Path) -> None:
    (tmp_path / "exec_pipes.py").write_text(PIPELINES)
    config = write_config(tmp_path, [{"name": "a"}, {"name": "b"}])
    done = subprocess.run(
        [
            FERROTRACK,
            "--root",
            str(root),
            "experiment",
            "run",
            str(config),
            "--import",
            "exec_pipes.py",
            "--executor",
            "local",
            "--max-concurrency",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "2 completed, 0 stopped, 0 failed, 0 skipped" in done.stdout
    assert len(list_runs(root, experiment="tiny.executions")) == 2


HOLDER = """
import time
from ferrotrack.experiment import Pipeline, YAMLSerializable


@YAMLSerializable.register("Holder")
class Holder(Pipeline):
    @Pipeline.run_wrapper
    def run(self, config):
        time.sleep(120)
"""


def trial_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if marker in cmdline and "--in-run" in cmdline and proc.info["status"] != "zombie":
            found.append(proc)
    return found


def wait_for(what: str, check: Callable[[], bool], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(0.05)  # polling a condition, bounded by the deadline


@pytest.mark.slow
def test_ctrl_c_ends_every_trial_process_and_marks_the_runs_killed(
    root: Path, tmp_path: Path
) -> None:
    (tmp_path / "holder.py").write_text(HOLDER)
    config = write_experiment_config(
        tmp_path / f"cfg-{uuid.uuid4().hex}",
        [{"name": "a"}, {"name": "b"}, {"name": "c"}],
        {"name": "held", "settings": {"pipeline": {"type": "Holder"}}},
        env={"workspace": "ws", "executor": "local", "max_concurrency": 2},
    )
    parent = subprocess.Popen(
        [
            *(FERROTRACK, "--root", str(root), "experiment", "run", str(config)),
            *("--import", "holder.py", "--no-progress"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for("two trial processes", lambda: len(trial_processes(config.name)) == 2, 60)
        wait_for(
            "their trial runs started",
            lambda: len(runs_at(root, "trial_run", experiment="held")) == 2,
            60,
        )
        parent.send_signal(signal.SIGINT)
        assert parent.wait(timeout=30) != 0
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    wait_for("no trial process left", lambda: not trial_processes(config.name), 5)
    statuses = {(r.ref.experiment, r.meta["name"]): r.status for r in list_runs(root)}
    assert statuses == {
        ("held", "held"): "killed",
        ("held", "a"): "killed",
        ("held", "a/0"): "killed",
        ("held", "b"): "killed",
        ("held", "b/0"): "killed",
        ("held.executions", "a"): "killed",
        ("held.executions", "b"): "killed",
    }
