"""One bad trial never stops the others: trial names that make bad folders, runs that cannot
start; selecting trials continues the experiment run; one process per experiment; a resume
reruns what changed; metric names that clash with ``results()`` columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from experiment_fixtures import runs_at, write_experiment_config
from omegaconf import DictConfig

import ferrotrack.core as ft
from ferrotrack.core.store.catalog import list_runs
from ferrotrack.experiment import (
    Experiment,
    ExperimentError,
    Metric,
    Pipeline,
    RunStatus,
    YAMLSerializable,
)


@YAMLSerializable.register("RobustPipeline")
class RobustPipeline(Pipeline):
    """One epoch; ``pipeline.clash`` also logs metrics named like results() columns."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        self.run_epoch(0)
        if config.pipeline.get("clash"):
            for name in ("status", "trial", "repeat", "run_id", "params.pipeline.lr"):
                self.env.tracker_manager.track(name, 7.0)
        self.run_metrics[Metric.TEST_ACC] = float(config.pipeline.lr)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> RunStatus:
        self.env.tracker_manager.track(Metric.TRAIN_LOSS, 0.5, epoch_idx)
        return RunStatus.SUCCESS


def write_config(
    folder: Path,
    trials: list[dict[str, Any]],
    *,
    env: dict[str, Any] | None = None,
    name: str = "robust",
) -> Path:
    experiment = {"name": name, "settings": {"pipeline": {"type": "RobustPipeline", "lr": 0.1}}}
    return write_experiment_config(
        folder, trials, experiment, env={"workspace": "ws", **(env or {})}
    )


def labels(outcomes: list[Any]) -> list[str]:
    return sorted(o.label for o in outcomes)


# ---- folders -----------------------------------------------------------------------------


def test_trial_names_that_make_bad_folders_get_distinct_ones_inside_the_workspace(
    root: Path, tmp_path: Path
) -> None:
    names = ["..", ".", "a/b", "a_b", "x y"]
    config = write_config(tmp_path / "cfg", [{"name": n} for n in names])
    outcome = Experiment.create(config).run(progress=False)

    assert labels(outcome.completed) == sorted(f"{n}/0" for n in names)
    workspace = config / "ws"
    trial_folders = sorted(p.parent.name for p in workspace.glob("*/repeat-0"))
    assert len(trial_folders) == len(names)  # a/b and a_b never share one
    assert "a_b" in trial_folders  # a safe name stays as it is
    assert "x y" in trial_folders
    assert not any(name in (".", "..") for name in trial_folders)
    assert not (config / "repeat-0").exists()  # '..' did not escape the workspace
    assert not (tmp_path / "repeat-0").exists()
    again = Experiment.create(config).run(resume=True, progress=False)  # stable names
    assert len(again.skipped) == len(names)
    assert sorted(p.parent.name for p in workspace.glob("*/repeat-0")) == trial_folders


# ---- runs that cannot start ---------------------------------------------------------------


def test_a_trial_run_whose_run_cannot_start_fails_alone(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}, {"name": "bad"}, {"name": "c"}])
    real = ft.start_run

    def start_run(name: str | None = None, **kwargs: Any) -> ft.Run:
        if name == "bad/0":
            raise OSError("disk full (injected)")
        return real(name, **kwargs)

    monkeypatch.setattr(ft, "start_run", start_run)
    experiment = Experiment.create(config)
    outcome = experiment.run(progress=False)

    assert labels(outcome.completed) == ["a/0", "c/0"]
    [failed] = outcome.failed
    assert failed.label == "bad/0"
    assert failed.run_id is None
    assert "'bad'" in (failed.error or "")
    assert "disk full" in (failed.error or "")
    assert all(r.status != "running" for r in list_runs(root))
    assert [r.status for r in runs_at(root, "experiment")] == ["failed"]
    status = experiment.status()
    assert dict(zip(status["trial"], status["state"], strict=True)) == {
        "a": "done",
        "bad": "pending",
        "c": "done",
    }


def test_a_trial_whose_folder_cannot_be_made_fails_alone(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}, {"name": "bad", "repeat": 2}])
    (config / "ws").mkdir()
    (config / "ws" / "bad").write_text("a file where the trial's folder goes")

    outcome = Experiment.create(config).run(progress=False)

    assert labels(outcome.completed) == ["a/0"]
    assert labels(outcome.failed) == ["bad/0", "bad/1"]
    assert all("'bad'" in (o.error or "") for o in outcome.failed)
    trials = {r.meta["tags"]["ferrotrack.trial"]: r for r in runs_at(root, "trial")}
    assert trials["bad"].status == "failed"  # in the store, with the error
    assert trials["a"].status == "finished"
    assert all(r.status != "running" for r in list_runs(root))


def test_a_trial_run_whose_folder_cannot_be_made_is_failed_in_the_store(
    root: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "bad", "repeat": 2}])
    (config / "ws" / "bad").mkdir(parents=True)
    (config / "ws" / "bad" / "repeat-1").write_text("in the way")

    outcome = Experiment.create(config).run(progress=False)

    assert labels(outcome.completed) == ["bad/0"]
    [failed] = outcome.failed
    assert failed.label == "bad/1"
    assert failed.run_id is not None
    [record] = [r for r in runs_at(root, "trial_run") if r.ref.run_id == failed.run_id]
    assert record.status == "failed"


def test_on_error_raise_when_a_run_cannot_start(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg", [{"name": "bad"}, {"name": "after"}], env={"on_error": "raise"}
    )
    (config / "ws").mkdir()
    (config / "ws" / "bad").write_text("in the way")
    experiment = Experiment.create(config)

    with pytest.raises(ExperimentError, match="'bad'"):
        experiment.run(progress=False)
    assert experiment.last_outcome is not None
    assert labels(experiment.last_outcome.failed) == ["bad/0"]
    assert runs_at(root, "trial_run") == []  # 'after' never started
    assert all(r.status != "running" for r in list_runs(root))


# ---- selecting trials -----------------------------------------------------------------------


def test_selected_trials_rerun_in_the_latest_experiment_run(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a", "repeat": 2}, {"name": "b"}])
    experiment = Experiment.create(config)
    first = experiment.run(progress=False)

    again = experiment.run(trials=["a"], progress=False)

    assert again.run_id == first.run_id
    assert labels(again.completed) == ["a/0", "a/1"]  # finished, yet run afresh
    assert again.skipped == []
    assert len(runs_at(root, "experiment")) == 1
    assert len(runs_at(root, "trial")) == 2  # a's trial run continued
    status = experiment.status()
    assert status["state"].to_list() == ["done", "done", "done"]
    assert status["attempts"].to_list() == [2, 2, 1]
    results = experiment.results()
    assert results["trial"].to_list() == ["a", "a", "b"]
    assert set(results["run_id"]) == {o.run_id for o in [*again.completed, first.completed[2]]}

    with_resume = experiment.run(trials=["a"], resume=True, progress=False)
    assert labels(with_resume.skipped) == ["a/0", "a/1"]
    assert with_resume.completed == []


def test_selected_trials_without_an_earlier_run_start_one(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}, {"name": "b"}])
    experiment = Experiment.create(config)
    outcome = experiment.run(trials=["b"], progress=False)
    assert labels(outcome.completed) == ["b/0"]
    assert experiment.status()["state"].to_list() == ["pending", "done"]


# ---- one process per experiment ------------------------------------------------------------


@pytest.mark.parametrize(
    "how", [{}, {"resume": True}, {"trials": ["a"]}], ids=["fresh", "resume", "trials"]
)
def test_a_live_experiment_run_refuses_every_mode(
    root: Path, tmp_path: Path, how: dict[str, Any]
) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}])
    live = ft.start_run("robust", experiment="robust", tags={"ferrotrack.level": "experiment"})
    try:
        with pytest.raises(ExperimentError, match="still running"):
            Experiment.create(config).run(progress=False, **how)
    finally:
        live.finish()
    assert runs_at(root, "trial_run") == []
    assert len(runs_at(root, "experiment")) == 1


def test_a_writer_that_started_after_the_check_is_another_process(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}])
    experiment = Experiment.create(config)
    first = experiment.run(progress=False)
    before = experiment.stored()  # what a second process saw just before the first resumed
    live = ft.start_run(experiment="robust", run_id=first.run_id, resume=True)
    try:
        monkeypatch.setattr(experiment, "stored", lambda: before)
        with pytest.raises(ExperimentError, match="another process is running this experiment"):
            experiment.run(resume=True, progress=False)
    finally:
        live.finish()


# ---- resume and changed settings ----------------------------------------------------------


def test_resume_reruns_a_finished_trial_run_whose_settings_changed(
    root: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a", "repeat": 2}, {"name": "b"}])
    first = Experiment.create(config).run(progress=False)
    for record in runs_at(root, "trial_run"):
        assert len(record.meta["tags"]["ferrotrack.config_hash"]) == 16

    changed: list[dict[str, Any]] = [
        {"name": "a", "repeat": 2, "settings": {"pipeline": {"lr": 0.2}}},
        {"name": "b"},
    ]
    write_config(config, changed)
    experiment = Experiment.create(config)
    second = experiment.run(resume=True, progress=False)

    assert second.run_id == first.run_id
    assert labels(second.completed) == ["a/0", "a/1"]
    assert labels(second.skipped) == ["b/0"]
    results = experiment.results()
    assert results["params.pipeline.lr"].to_list() == [0.2, 0.2, 0.1]
    third = Experiment.create(config).run(resume=True, progress=False)
    assert len(third.skipped) == 3  # same settings now: nothing runs


def test_a_run_recorded_without_the_hash_counts_as_unchanged(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}])
    Experiment.create(config).run(progress=False)
    [record] = runs_at(root, "trial_run")
    old = ft.start_run(
        experiment="robust",
        run_id=record.ref.run_id,
        resume=True,
        tags={"ferrotrack.config_hash": None},  # as a run from before the tag existed
    )
    old.finish()
    assert "ferrotrack.config_hash" not in runs_at(root, "trial_run")[0].meta["tags"]

    write_config(config, [{"name": "a", "settings": {"pipeline": {"lr": 0.3}}}])
    again = Experiment.create(config).run(resume=True, progress=False)
    assert labels(again.skipped) == ["a/0"]


def test_the_hash_is_of_the_resolved_params(root: Path, tmp_path: Path) -> None:
    folder = write_config(tmp_path / "cfg", [{"name": "a"}])
    experiment_yaml: dict[str, Any] = {
        "name": "robust",
        "settings": {"pipeline": {"type": "RobustPipeline", "lr": "${rate}"}, "rate": 0.1},
    }
    (folder / "experiment.yaml").write_text(yaml.safe_dump(experiment_yaml))
    Experiment.create(folder).run(progress=False)
    params = json.loads((runs_at(root, "trial_run")[0].ref.path / "params.json").read_text())
    assert params["pipeline"]["lr"] == 0.1

    experiment_yaml["settings"]["rate"] = 0.5  # the same text, another resolved value
    (folder / "experiment.yaml").write_text(yaml.safe_dump(experiment_yaml))
    again = Experiment.create(folder).run(resume=True, progress=False)
    assert labels(again.completed) == ["a/0"]


# ---- results() columns ----------------------------------------------------------------------


def test_metrics_named_like_columns_become_metric_columns(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a", "settings": {"pipeline": {"clash": 1}}}])
    experiment = Experiment.create(config)
    experiment.run(progress=False)

    results = experiment.results()
    [row] = results.rows(named=True)
    assert row["status"] == "completed"
    assert row["trial"] == "a"
    assert row["repeat"] == 0
    assert row["params.pipeline.lr"] == 0.1
    for name in ("status", "trial", "repeat", "run_id", "params.pipeline.lr"):
        assert row[f"metric:{name}"] == 7.0
    assert not [c for c in results.columns if c.endswith("_right")]
    assert row["test/acc"] == 0.1  # other metrics keep their plain names
