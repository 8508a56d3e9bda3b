"""An experiment run end to end on a real store: the run hierarchy, params, tags, seeds,
``results()``, ``status()``, failures that leave the other trials running, and the backends
``env.yaml`` names."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from experiment_fixtures import runs_at, write_experiment_config
from omegaconf import DictConfig

import ferrotrack.core as ft
from ferrotrack.core.store.catalog import RunRecord, list_runs
from ferrotrack.experiment import (
    ConfigError,
    Experiment,
    ExperimentOutcome,
    Metric,
    Pipeline,
    RunStatus,
    StopTraining,
    UnknownNameError,
    YAMLSerializable,
)


@YAMLSerializable.register("RunsTinyPipeline")
class RunsTinyPipeline(Pipeline):
    """A few epochs of made-up losses. ``pipeline.fail_repeat`` raises in that repeat,
    ``pipeline.stop_at`` stops early at that epoch; ``rand`` records the seeded draw."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        self.env.tracker_manager.track("rand", random.random())
        for epoch in range(config.pipeline.epochs):
            self.run_epoch(epoch, config)
        self.run_metrics[Metric.TEST_ACC] = float(config.pipeline.lr) * 10 + config.repeat
        return {"status": "completed"}

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int, config: DictConfig) -> RunStatus:
        for batch in range(2):
            step = epoch_idx * 2 + batch
            self.env.tracker_manager.track(Metric.TRAIN_LOSS, 1.0 / (step + 1), step)
        if config.pipeline.get("fail_repeat") == config.repeat:
            raise ValueError(f"boom in repeat {config.repeat}")
        if config.pipeline.get("stop_at") == epoch_idx:
            raise StopTraining("plateau")
        if config.pipeline.get("interrupt"):
            raise KeyboardInterrupt
        self.epoch_metrics[Metric.VAL_LOSS] = 0.5 / (epoch_idx + 1)
        return RunStatus.SUCCESS


def write_config(
    folder: Path, trials: list[dict[str, Any]], *, env: dict[str, Any] | None = None
) -> Path:
    """A config directory: experiment ``tiny`` with lr 0.1 and 2 epochs, then ``trials``."""
    experiment = {
        "name": "tiny",
        "id": 7,
        "desc": "a tiny experiment",
        "settings": {"pipeline": {"type": "RunsTinyPipeline", "epochs": 2, "lr": 0.1}},
    }
    return write_experiment_config(
        folder,
        trials,
        experiment,
        env={"workspace": "ws", **(env or {})},
        base={"settings": {"batch": 32}},
    )


def params_of(record: RunRecord) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((record.ref.path / "params.json").read_text())
    return found


def test_run_hierarchy_parents_tags_and_params(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "small", "repeat": 2, "settings": {"pipeline": {"lr": 0.01}}},
            {"name": "large", "settings": {"pipeline": {"lr": 0.5}, "batch": 64}},
        ],
    )
    outcome = Experiment.create(config).run(progress=False)

    assert isinstance(outcome, ExperimentOutcome)
    assert outcome.ok
    assert outcome.counts == {"completed": 3, "stopped": 0, "failed": 0, "skipped": 0}
    [top] = runs_at(root, "experiment")
    assert top.ref.experiment == "tiny"
    assert top.meta["name"] == "tiny"
    assert top.status == "finished"
    assert top.ref.run_id == outcome.run_id
    assert (top.ref.path / "artifacts" / "config" / "trials.yaml").is_file()
    trials = {r.meta["tags"]["ferrotrack.trial"]: r for r in runs_at(root, "trial")}
    assert sorted(trials) == ["large", "small"]
    assert {r.meta["parent"] for r in trials.values()} == {top.ref.run_id}
    assert all(r.status == "finished" for r in trials.values())
    trial_runs = runs_at(root, "trial_run")
    assert sorted(r.meta["name"] for r in trial_runs) == ["large/0", "small/0", "small/1"]
    for record in trial_runs:
        tags = record.meta["tags"]
        trial, repeat = tags["ferrotrack.trial"], int(tags["ferrotrack.repeat"])
        assert record.meta["parent"] == trials[trial].ref.run_id
        assert record.status == "finished"
        assert tags["ferrotrack.outcome"] == "completed"
        params = params_of(record)
        assert params["repeat"] == repeat
        assert params["seed"] == int(tags["ferrotrack.seed"])
        assert params["pipeline"]["type"] == "RunsTinyPipeline"
        assert params["pipeline"]["epochs"] == 2  # from experiment.yaml
        assert params["pipeline"]["lr"] == {"small": 0.01, "large": 0.5}[trial]  # trial wins
        assert params["batch"] == {"small": 32, "large": 64}[trial]  # base < trial
    small = [r for r in trial_runs if r.meta["name"].startswith("small/")]
    assert params_of(small[0])["seed"] != params_of(small[1])["seed"]

    table = ft.runs(root, experiment="tiny")
    assert {"trial", "repeat"} <= set(table.columns), "core's runs() lacks trial/repeat"
    rows = table.filter(pl.col("repeat").is_not_null()).sort("trial", "repeat")
    assert rows.select("trial", "repeat").rows() == [("large", 0), ("small", 0), ("small", 1)]


def test_seeds_reach_random_per_trial_run(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "t", "repeat": 2}])
    Experiment.create(config).run(progress=False)

    for record in runs_at(root, "trial_run"):
        seed = params_of(record)["seed"]
        summary = ft.runs(root, experiment="tiny").filter(pl.col("run_id") == record.ref.run_id)
        assert summary["rand.last"].item() == random.Random(seed).random()


def test_results_one_row_per_trial_run_with_final_metrics(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "a", "repeat": 2, "settings": {"pipeline": {"lr": 0.2}}},
            {"name": "b", "settings": {"pipeline": {"fail_repeat": 0}}},
        ],
    )
    experiment = Experiment.create(config)
    outcome = experiment.run(progress=False)
    assert [o.label for o in outcome.failed] == ["b/0"]

    results = experiment.results()
    assert results.select("trial", "repeat", "status").rows() == [
        ("a", 0, "completed"),
        ("a", 1, "completed"),
        ("b", 0, "failed"),
    ]
    assert results["params.pipeline.lr"].to_list() == [0.2, 0.2, 0.1]
    assert results["params.repeat"].to_list() == [0, 1, 0]
    assert results["test/acc"].to_list()[:2] == pytest.approx([2.0, 3.0])
    assert results["test/acc"][2] is None  # the failed one never got there
    assert results["epoch/val/loss"].to_list()[:2] == pytest.approx([0.25, 0.25])
    assert results["train/loss"].to_list()[0] == pytest.approx(1 / 4)
    assert set(results["run_id"]) == {o.run_id for o in outcome.completed + outcome.failed}


def test_status_states_done_failed_stopped_pending(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "ok"},
            {"name": "bad", "settings": {"pipeline": {"fail_repeat": 0}}},
            {"name": "early", "settings": {"pipeline": {"stop_at": 0}}},
            {"name": "later"},
        ],
    )
    experiment = Experiment.create(config)
    assert experiment.status()["state"].to_list() == ["pending"] * 4

    outcome = experiment.run(trials=["ok", "bad", "early"], progress=False)

    assert [o.label for o in outcome.stopped] == ["early/0"]
    status = experiment.status()
    assert status.select("trial", "state").rows() == [
        ("ok", "done"),
        ("bad", "failed"),
        ("early", "stopped"),
        ("later", "pending"),
    ]
    assert status["attempts"].to_list() == [1, 1, 1, 0]
    [stopped] = [r for r in runs_at(root, "trial_run") if r.meta["name"] == "early/0"]
    assert stopped.status == "finished"
    assert stopped.meta["tags"]["ferrotrack.outcome"] == "stopped"
    assert stopped.meta["tags"]["ferrotrack.stop_reason"] == "plateau"


def test_a_failing_trial_leaves_the_others_running(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "first"},
            {"name": "flaky", "repeat": 3, "settings": {"pipeline": {"fail_repeat": 1}}},
            {"name": "last"},
        ],
    )
    outcome = Experiment.create(config).run(progress=False)

    assert not outcome.ok
    assert [o.label for o in outcome.failed] == ["flaky/1"]
    assert "boom in repeat 1" in (outcome.failed[0].error or "")
    assert sorted(o.label for o in outcome.completed) == ["first/0", "flaky/0", "flaky/2", "last/0"]
    runs = {r.meta["name"]: r for r in runs_at(root, "trial_run")}
    assert runs["flaky/1"].status == "failed"
    error = runs["flaky/1"].meta["error"]
    assert error["type"] == "ValueError"
    assert "boom in repeat 1" in error["traceback"]
    # what the failed run logged before raising is kept
    failed_row = ft.runs(root, experiment="tiny").filter(pl.col("name") == "flaky/1")
    assert failed_row["train/loss.last"].item() == pytest.approx(1 / 2)
    assert all(runs[n].status == "finished" for n in ("first/0", "flaky/0", "flaky/2", "last/0"))
    trials = {r.meta["tags"]["ferrotrack.trial"]: r.status for r in runs_at(root, "trial")}
    assert trials == {"first": "finished", "flaky": "failed", "last": "finished"}
    [top] = runs_at(root, "experiment")
    assert top.status == "failed"


def test_on_error_raise_stops_after_recording(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "first"},
            {"name": "bad", "settings": {"pipeline": {"fail_repeat": 0}}},
            {"name": "never"},
        ],
        env={"on_error": "raise"},
    )
    with pytest.raises(ValueError, match="boom in repeat 0"):
        Experiment.create(config).run(progress=False)

    runs = {r.meta["name"]: r.status for r in runs_at(root, "trial_run")}
    assert runs == {"first/0": "finished", "bad/0": "failed"}
    assert [r.status for r in runs_at(root, "experiment")] == ["failed"]
    assert ft.active_run() is None


def test_unknown_pipeline_name_lists_registered_ones(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg", [{"name": "typo", "settings": {"pipeline": {"type": "RunsTinyPipelin"}}}]
    )
    with pytest.raises(UnknownNameError, match="RunsTinyPipelin") as caught:
        Experiment.create(config)

    assert "RunsTinyPipeline" in caught.value.known
    assert "trial 'typo'" in str(caught.value)
    assert list_runs(root) == []


def test_missing_pipeline_type_names_the_key(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "t"}])
    experiment_yaml = config / "experiment.yaml"
    experiment_yaml.write_text(yaml.safe_dump({"name": "tiny", "settings": {"epochs": 2}}))
    with pytest.raises(ConfigError, match=r"settings\.pipeline\.type") as caught:
        Experiment.create(config)
    assert caught.value.file == experiment_yaml


def test_unknown_trial_filter_lists_the_trials(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "a"}, {"name": "b"}])
    with pytest.raises(UnknownNameError, match="registered trials: a, b"):
        Experiment.create(config).run(trials=["c"], progress=False)
    assert list_runs(root) == []


def test_trial_filter_takes_a_base_name_for_its_expansions(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [
            {"name": "lr", "values": [0.1, 0.2], "settings": {"pipeline": {"lr": "?"}}},
            {"name": "other"},
        ],
    )
    outcome = Experiment.create(config).run(trials=["lr"], progress=False)
    assert sorted(o.trial for o in outcome.completed) == ["lr[0.1]", "lr[0.2]"]


def test_progress_bars_count_trial_runs_and_epochs(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "t", "repeat": 2}])
    outcome = Experiment.create(config).run(progress=True)

    assert outcome.ok
    err = capsys.readouterr().err
    assert "2/2" in err  # both trial runs
    assert "epochs of t/1" in err


@pytest.mark.slow
def test_env_yaml_backend_tracker_mirrors_every_run(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "t"}], env={"trackers": [{"type": "jsonl"}]})
    Experiment.create(config).run(progress=False)

    [record] = runs_at(root, "trial_run")
    lines = [json.loads(line) for line in (record.ref.path / "mirror.jsonl").read_text().split()]
    assert any(line.get("name") == "train/loss" for line in lines)
    for level in ("experiment", "trial"):
        assert all((r.ref.path / "mirror.jsonl").exists() for r in runs_at(root, level))


def test_a_setting_that_cannot_resolve_fails_only_its_trial_run(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [{"name": "broken", "settings": {"pipeline": {"lr": "${nowhere.lr}"}}}, {"name": "fine"}],
    )
    outcome = Experiment.create(config).run(progress=False)

    assert [o.label for o in outcome.failed] == ["broken/0"]
    assert [o.label for o in outcome.completed] == ["fine/0"]
    runs = {r.meta["name"]: r for r in runs_at(root, "trial_run")}
    assert runs["broken/0"].status == "failed"
    assert runs["broken/0"].meta["error"]["type"] == "ConfigError"
    assert "trials.yaml" in runs["broken/0"].meta["error"]["message"]
    assert params_of(runs["broken/0"])["pipeline"]["lr"] == "${nowhere.lr}"


def test_an_interrupt_marks_every_open_level_killed(root: Path, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "cfg",
        [{"name": "first"}, {"name": "stop", "settings": {"pipeline": {"interrupt": True}}}],
    )
    with pytest.raises(KeyboardInterrupt):
        Experiment.create(config).run(progress=False)

    runs = {r.meta["name"]: r.status for r in runs_at(root, "trial_run")}
    assert runs == {"first/0": "finished", "stop/0": "killed"}
    trials = {r.meta["tags"]["ferrotrack.trial"]: r.status for r in runs_at(root, "trial")}
    assert trials == {"first": "finished", "stop": "killed"}
    assert [r.status for r in runs_at(root, "experiment")] == ["killed"]
    assert ft.active_run() is None
