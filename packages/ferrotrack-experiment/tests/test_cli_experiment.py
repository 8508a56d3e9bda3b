"""``ferrotrack experiment run|show|status``: through the real ``ferrotrack`` command (click's
runner in-process, and real processes for a SIGKILL in the middle of an experiment)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from experiment_fixtures import runs_at, write_experiment_config
from omegaconf import DictConfig

from ferrotrack.core.cli.app import build
from ferrotrack.core.store.catalog import RunRecord, list_runs
from ferrotrack.experiment import Metric, Pipeline, RunStatus, YAMLSerializable


@YAMLSerializable.register("CliTinyPipeline")
class CliTinyPipeline(Pipeline):
    """One epoch; raises when ``pipeline.fail`` is true."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        self.run_epoch(0, config)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int, config: DictConfig) -> RunStatus:
        self.env.tracker_manager.track(Metric.TRAIN_LOSS, 0.5, 0)
        if config.pipeline.get("fail"):
            raise RuntimeError("this trial is broken")
        return RunStatus.SUCCESS


def write_config(
    folder: Path, trials: list[dict[str, Any]], *, name: str = "clitiny", pipeline: str = ""
) -> Path:
    settings = {"pipeline": {"type": pipeline or "CliTinyPipeline", "lr": 0.1}}
    return write_experiment_config(folder, trials, {"name": name, "settings": settings})


def ferrotrack(*args: str) -> Result:
    return CliRunner().invoke(build(), [*args], catch_exceptions=False)


def trial_runs(root: Path, experiment: str) -> dict[str, list[RunRecord]]:
    """The trial-run runs by name, oldest first."""
    found: dict[str, list[RunRecord]] = {}
    for record in runs_at(root, "trial_run", experiment=experiment):
        found.setdefault(record.meta["name"], []).append(record)
    return found


def test_show_prints_the_expanded_trials_and_runs_nothing(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "sweep", "values": [0.01, 0.1], "settings": {"pipeline": {"lr": "?"}}},
            {"name": "grid", "repeat": 2, "grid": {"batch": [16, 32]}},
        ],
    )
    result = ferrotrack("experiment", "show", str(config))

    assert result.exit_code == 0, result.output
    out = result.output
    for name in ("sweep[0.01]", "sweep[0.1]", "grid[batch=16]", "grid[batch=32]"):
        assert name in out
    assert "pipeline.lr" in out  # the settings that differ
    assert "batch" in out
    assert "6 trial run(s)" in out
    assert not root.exists() or list_runs(root) == []


def test_status_shows_done_failed_and_pending(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "good"},
            {"name": "bad", "settings": {"pipeline": {"fail": True}}},
            {"name": "todo"},
        ],
    )
    ran = ferrotrack("experiment", "run", str(config), "--trial", "good", "--trial", "bad")
    assert ran.exit_code == 1  # a trial run failed

    result = ferrotrack("experiment", "status", str(config))

    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if "│" in line}
    assert "done" in lines["good"]
    assert "failed" in lines["bad"]
    assert "pending" in lines["todo"]
    assert "1 done, 1 failed, 1 pending" in result.output


def test_run_exit_status_and_summary(root: Path, tmp_path: Path) -> None:
    good = write_config(tmp_path / "good", [{"name": "a", "repeat": 2}], name="good")
    result = ferrotrack("experiment", "run", str(good), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "2 completed, 0 stopped, 0 failed, 0 skipped" in result.output

    bad = write_config(
        tmp_path / "bad", [{"name": "b", "settings": {"pipeline": {"fail": True}}}], name="bad"
    )
    result = ferrotrack("experiment", "run", str(bad), "--no-progress")
    assert result.exit_code == 1
    assert "this trial is broken" in result.output
    assert [r.status for r in trial_runs(root, "bad")["b/0"]] == ["failed"]


def test_run_unknown_pipeline_is_one_error_line(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}], pipeline="NoSuchPipeline")
    result = ferrotrack("experiment", "run", str(config))

    assert result.exit_code == 1
    assert "unknown pipeline 'NoSuchPipeline'" in result.output
    assert "CliTinyPipeline" in result.output  # the registered ones are listed
    assert not root.exists() or list_runs(root) == []


KILLABLE = textwrap.dedent(
    """
    import os
    import threading

    from ferrotrack.experiment import Metric, Pipeline, YAMLSerializable


    @YAMLSerializable.register("KillablePipeline")
    class KillablePipeline(Pipeline):
        @Pipeline.run_wrapper
        def run(self, config):
            self.env.tracker_manager.track(Metric.TRAIN_LOSS, 0.25, 0)
            if config.pipeline.get("block") and os.environ.get("KILLABLE_BLOCK"):
                threading.Event().wait()  # until the test kills the process
            self.run_metrics[Metric.TEST_ACC] = 0.5
    """
)


def start_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "ferrotrack.core.cli", "experiment", "run", *args]
    return subprocess.Popen(
        command,
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigkill_mid_experiment_then_resume_finishes_the_rest(root: Path, tmp_path: Path) -> None:
    (tmp_path / "killable.py").write_text(KILLABLE)
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "a"},
            {"name": "b", "settings": {"pipeline": {"block": True}}},
            {"name": "c", "settings": {"pipeline": {"block": True}}},
        ],
        name="killme",
        pipeline="KillablePipeline",
    )
    args = (str(config), "--import", str(tmp_path / "killable.py"), "--no-progress")
    proc = start_cli(tmp_path, *args, KILLABLE_BLOCK="1")
    try:
        deadline = time.monotonic() + 120
        while True:  # poll the store until a/0 finished and b/0 started
            runs = trial_runs(root, "killme") if root.exists() else {}
            if "b/0" in runs and [r.status for r in runs.get("a/0", [])] == ["finished"]:
                break
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
            else:
                pytest.fail(f"the experiment ended before it was killed: {proc.stderr.read()}")  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the first trial run never finished"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    before = trial_runs(root, "killme")
    assert [r.status for r in before["b/0"]] == ["crashed"]
    assert "c/0" not in before

    resumed = start_cli(tmp_path, *args, "--resume")
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, out + err
    assert "1 skipped" in out

    after = trial_runs(root, "killme")
    assert [r.ref.run_id for r in after["a/0"]] == [before["a/0"][0].ref.run_id]  # skipped
    assert [r.status for r in after["b/0"]] == ["crashed", "finished"]  # old one kept
    assert [r.status for r in after["c/0"]] == ["finished"]
    tops = runs_at(root, "experiment", experiment="killme")
    assert [r.status for r in tops] == ["finished"]  # the killed run, continued

    status = ferrotrack("experiment", "status", str(config))
    assert "3 done" in status.output
