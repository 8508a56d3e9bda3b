"""MetricsTracker: <workspace>/metrics.csv, one row per epoch, kept current after each
epoch, logged as a run artifact at the end."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

import ferrotrack.core as ft
from ferrotrack.experiment import Environment, Level, Metric, MetricsTracker, Pipeline


class Growing(Pipeline):
    """val/acc appears at epoch 2; epoch 3 raises."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        for epoch in range(config.epochs):
            self.run_epoch(epoch)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> None:
        if epoch_idx == config_fail_at(self):
            raise RuntimeError("out of memory")
        self.epoch_metrics[Metric.TRAIN_LOSS] = np.float32(0.5) if epoch_idx == 0 else 0.25
        self.epoch_metrics[Metric.CUSTOM] = ("steps", epoch_idx * 10)
        self.epoch_metrics[Metric.CUSTOM_UNTRACKED] = [("debug", 1.0)]
        self.epoch_metrics[Metric.CONFUSION] = [[1, 0], [0, 1]]
        self.epoch_metrics[Metric.NETWORK] = object()
        if epoch_idx >= 2:
            self.epoch_metrics[Metric.VAL_ACC] = np.array(0.75)


def config_fail_at(pipeline: Pipeline) -> int:
    return int(getattr(pipeline, "fail_at", -1))


@pytest.fixture
def env(root: Path, tmp_path: Path) -> Iterator[Environment]:
    run = ft.start_run("trial/0", experiment="csv")
    environment = Environment(tmp_path / "workspace", run=run, level=Level.TRIAL_RUN)
    yield environment
    environment.close()
    run.finish()


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def test_one_row_per_epoch_with_a_column_per_tracked_metric(env: Environment) -> None:
    pipeline = Growing(env)
    pipeline.register_callback(MetricsTracker())
    pipeline.run(OmegaConf.create({"epochs": 4}))

    path = env.workspace / "metrics.csv"
    assert path.read_text().splitlines()[0] == "epoch,train/loss,steps,val/acc"
    assert read(path) == [
        {"epoch": "0", "train/loss": "0.5", "steps": "0", "val/acc": ""},
        {"epoch": "1", "train/loss": "0.25", "steps": "10", "val/acc": ""},
        {"epoch": "2", "train/loss": "0.25", "steps": "20", "val/acc": "0.75"},
        {"epoch": "3", "train/loss": "0.25", "steps": "30", "val/acc": "0.75"},
    ]
    run = env.run
    assert run is not None
    run.finish()
    assert (run.run_dir / "artifacts" / "metrics.csv").read_bytes() == path.read_bytes()
    (event,) = ft.events(run_id=run.run_id, kind="artifact").to_dicts()
    assert (event["name"], event["level"]) == ("metrics.csv", "pipeline")
    assert json.loads(event["data"])["type"] == "metrics_csv"


def test_a_failed_run_keeps_the_epochs_done_and_still_logs_the_file(env: Environment) -> None:
    pipeline = Growing(env)
    pipeline.fail_at = 3  # type: ignore[attr-defined]
    pipeline.register_callback(MetricsTracker())
    with pytest.raises(RuntimeError, match="out of memory"):
        pipeline.run(OmegaConf.create({"epochs": 6}))

    rows = read(env.workspace / "metrics.csv")
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    assert env.run is not None
    assert (env.run.run_dir / "artifacts" / "metrics.csv").exists()


def test_the_file_is_current_after_each_epoch(env: Environment) -> None:
    tracker = MetricsTracker(env)
    tracker.on_start()
    path = env.workspace / "metrics.csv"
    assert path.read_text().splitlines() == ["epoch"]
    tracker.on_epoch_end(0, {Metric.TRAIN_LOSS: 1.0})
    tracker.on_epoch_end(1, {Metric.TRAIN_LOSS: 0.5})
    assert read(path) == [{"epoch": "0", "train/loss": "1.0"}, {"epoch": "1", "train/loss": "0.5"}]
    tracker.on_start()  # a new run starts a new table
    assert read(path) == []
