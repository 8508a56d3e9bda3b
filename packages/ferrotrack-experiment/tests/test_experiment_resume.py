"""Resume: the latest experiment run is continued, finished trial runs are skipped, failed
ones run again as new runs and the failed attempt stays in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from experiment_fixtures import runs_at, write_experiment_config
from omegaconf import DictConfig

import ferrotrack.core as ft
from ferrotrack.experiment import (
    Experiment,
    ExperimentError,
    Metric,
    Pipeline,
    RunStatus,
    YAMLSerializable,
)

BUG_FIXED = False
"""Flipped by a test: the code that made ``fail_repeat`` fail was fixed, the config not."""


@YAMLSerializable.register("ResumeTinyPipeline")
class ResumeTinyPipeline(Pipeline):
    """Two epochs; raises in the repeat ``pipeline.fail_repeat`` names (until BUG_FIXED)."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        for epoch in range(2):
            self.run_epoch(epoch, config)
        self.run_metrics[Metric.TEST_ACC] = 0.9

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int, config: DictConfig) -> RunStatus:
        self.env.tracker_manager.track(Metric.TRAIN_LOSS, 1.0 / (epoch_idx + 1), epoch_idx)
        if config.pipeline.get("fail_repeat") == config.repeat and not BUG_FIXED:
            raise RuntimeError(f"broken config in repeat {config.repeat}")
        return RunStatus.SUCCESS


def write_config(folder: Path, trials: list[dict[str, Any]]) -> Path:
    experiment = {"name": "resumable", "settings": {"pipeline": {"type": "ResumeTinyPipeline"}}}
    return write_experiment_config(folder, trials, experiment)


def test_resume_skips_finished_and_reruns_the_failed_as_a_new_run(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = [
        {"name": "fine", "repeat": 2},
        {"name": "flaky", "repeat": 2, "settings": {"pipeline": {"fail_repeat": 1}}},
    ]
    config = write_config(tmp_path / "cfg", broken)
    first = Experiment.create(config).run(progress=False)
    assert [o.label for o in first.failed] == ["flaky/1"]
    [failed_run] = [r for r in runs_at(root, "trial_run") if r.status == "failed"]
    first_trial_runs = {r.ref.run_id for r in runs_at(root, "trial_run")}

    monkeypatch.setattr(f"{__name__}.BUG_FIXED", True)  # the same settings, fixed code
    experiment = Experiment.create(config)
    second = experiment.run(resume=True, progress=False)

    assert second.ok
    assert second.run_id == first.run_id  # the same experiment run, continued
    assert sorted(o.label for o in second.skipped) == ["fine/0", "fine/1", "flaky/0"]
    assert {o.run_id for o in second.skipped} <= first_trial_runs
    [redone] = second.completed
    assert redone.label == "flaky/1"
    assert redone.run_id not in first_trial_runs
    assert len(runs_at(root, "experiment")) == 1
    trials = {r.meta["tags"]["ferrotrack.trial"]: r for r in runs_at(root, "trial")}
    assert len(trials) == 2  # the flaky trial's run was continued, not duplicated
    assert trials["flaky"].status == "finished"
    runs = runs_at(root, "trial_run")
    assert len(runs) == 5
    old = next(r for r in runs if r.ref.run_id == failed_run.ref.run_id)
    assert old.status == "failed"  # the failed attempt stays, with its error
    assert old.meta["error"]["type"] == "RuntimeError"
    new = next(r for r in runs if r.ref.run_id == redone.run_id)
    assert new.meta["parent"] == trials["flaky"].ref.run_id
    assert [r.status for r in runs_at(root, "experiment")] == ["finished"]

    status = experiment.status()
    assert status["state"].to_list() == ["done"] * 4
    assert status.filter(status["trial"] == "flaky")["attempts"].to_list() == [1, 2]
    results = experiment.results()
    assert results.height == 4
    assert results.filter(results["trial"] == "flaky")["run_id"][1] == redone.run_id
    assert results["status"].to_list() == ["completed"] * 4


def test_resume_with_everything_done_runs_nothing(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a", "repeat": 2}])
    first = Experiment.create(config).run(progress=False)
    again = Experiment.create(config).run(resume=True, progress=False)

    assert again.counts == {"completed": 0, "stopped": 0, "failed": 0, "skipped": 2}
    assert again.run_id == first.run_id
    assert len(runs_at(root, "trial_run")) == 2
    assert len(runs_at(root, "trial")) == 1


def test_without_resume_a_new_experiment_run_runs_everything(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}])
    experiment = Experiment.create(config)
    first = experiment.run(progress=False)
    second = experiment.run(progress=False)

    assert second.run_id != first.run_id
    assert [o.label for o in second.completed] == ["a/0"]
    assert len(runs_at(root, "experiment")) == 2
    [row] = experiment.results().rows(named=True)  # only the latest experiment run counts
    assert row["run_id"] == second.completed[0].run_id


def test_resume_with_no_earlier_run_starts_one(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}])
    outcome = Experiment.create(config).run(resume=True, progress=False)
    assert [o.label for o in outcome.completed] == ["a/0"]


def test_resume_refuses_an_experiment_run_still_running(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}])
    live = ft.start_run(
        "resumable", experiment="resumable", tags={"ferrotrack.level": "experiment"}
    )
    try:
        with pytest.raises(ExperimentError, match="still running"):
            Experiment.create(config).run(resume=True, progress=False)
    finally:
        live.finish()
    assert len(runs_at(root, "trial_run")) == 0
