"""The tracker manager with the real Pipeline: seed 001's manual epoch lifecycle
(on_create/on_start/on_end(Level.EPOCH) by hand) tracks epoch_metrics through the attached
pipeline's end_epoch, callbacks see each epoch and can stop it, and the store has every
point and level event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

import ferrotrack.core as ft
from ferrotrack.core.store.events import read_events
from ferrotrack.experiment import (
    Callback,
    Environment,
    Level,
    Metric,
    Pipeline,
    RunStatus,
    StopTraining,
)
from ferrotrack.experiment.trackers.tracker_manager import TrackerWarning


class ManualEpochs(Pipeline):
    """Seed 001's 'Approach 2' shape: no __init__/from_config, epochs managed by hand."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        epochs = config.pipeline.get("epochs", 3)
        self.env.tracker_manager.log_params({"epochs": epochs})
        for epoch in range(epochs):
            self.env.tracker_manager.on_create(Level.EPOCH, epoch_id=epoch)
            self.env.tracker_manager.on_start(Level.EPOCH)
            self.epoch_metrics.clear()
            for batch in range(2):
                self.env.tracker_manager.track(
                    Metric.TRAIN_LOSS, 1.0 - batch / 10, epoch * 2 + batch
                )
            self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0 / (epoch + 1)
            self.epoch_metrics[Metric.CUSTOM_UNTRACKED] = [("debug", epoch)]
            self.env.tracker_manager.on_end(Level.EPOCH)
            self.epoch_metrics.clear()
        self.run_metrics[Metric.TEST_ACC] = 0.9
        return {"status": "completed"}


class WrappedEpochs(Pipeline):
    """Seed 001's 'Approach 1' shape: epoch_wrapper and a checkpoint with no model."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        for epoch in range(config.pipeline.epochs):
            self.run_epoch(epoch, None)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int, model: Any) -> RunStatus:
        self.epoch_metrics[Metric.VAL_LOSS] = 0.5 - epoch_idx / 10
        if epoch_idx % 2 == 0:
            self.env.tracker_manager.on_checkpoint(
                network=model,
                checkpoint_path=f"checkpoints/epoch_{epoch_idx}.pth",
                metrics={Metric.VAL_LOSS: self.epoch_metrics[Metric.VAL_LOSS]},
            )
        return RunStatus.SUCCESS


class Seen(Callback):
    def __init__(self, env: Environment | None = None, stop_at: int | None = None) -> None:
        super().__init__(env)
        self.stop_at = stop_at
        self.epochs: list[tuple[int, dict[Any, Any]]] = []

    def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> bool:
        self.epochs.append((epoch_idx, metrics))
        return epoch_idx == self.stop_at


def env_for(run: ft.Run, tmp_path: Path) -> Environment:
    return Environment(tmp_path / "ws", run=run, level=Level.TRIAL_RUN)


def stored(run: ft.Run) -> list[tuple[str, int, float]]:
    run.flush()
    frame = ft.metrics(experiment=run.experiment, runs=run.run_id).collect()
    return [(r["name"], r["step"], r["value"]) for r in frame.iter_rows(named=True)]


def test_a_manual_epoch_lifecycle_tracks_epoch_metrics_through_end_epoch(
    root: Path, tmp_path: Path
) -> None:
    config = OmegaConf.create({"pipeline": {"epochs": 2}})
    with ft.start_run("manual", experiment="pipelines") as run:
        env = env_for(run, tmp_path)
        pipeline = ManualEpochs(env)
        seen = Seen()
        pipeline.register_callback(seen)
        assert pipeline.run(config) == {"status": "completed"}
        env.close()
    assert pipeline.status is RunStatus.COMPLETED
    assert [name for name, _, _ in stored(run)] == [
        "train/loss",
        "train/loss",
        "epoch/train/loss",
        "train/loss",
        "train/loss",
        "epoch/train/loss",
        "test/acc",
    ]
    assert [(n, s, v) for n, s, v in stored(run) if n.startswith("epoch/")] == [
        ("epoch/train/loss", 0, 1.0),
        ("epoch/train/loss", 1, 0.5),
    ]
    # callbacks got the untracked debug values; the store never did
    assert [(i, m[Metric.CUSTOM_UNTRACKED]) for i, m in seen.epochs] == [
        (0, [("debug", 0)]),
        (1, [("debug", 1)]),
    ]
    levels = [(e.kind, e.level, e.step) for e in read_events(run.run_dir)]
    assert levels == [
        ("level_start", "pipeline", None),
        ("level_start", "epoch", 0),
        ("level_end", "epoch", 0),
        ("level_start", "epoch", 1),
        ("level_end", "epoch", 1),
        ("level_end", "pipeline", None),
    ]
    assert run.params == {"epochs": 2}


def test_a_callback_stop_in_a_manual_epoch_ends_the_run_as_stopped(
    root: Path, tmp_path: Path
) -> None:
    config = OmegaConf.create({"pipeline": {"epochs": 5}})
    with ft.start_run("stopped", experiment="pipelines") as run:
        env = env_for(run, tmp_path)
        pipeline = ManualEpochs(env)
        pipeline.register_callback(Seen(stop_at=1))
        pipeline.run(config)
        env.close()
    assert pipeline.status is RunStatus.STOPPED
    epochs = [(e.kind, e.step) for e in read_events(run.run_dir) if e.level == "epoch"]
    assert epochs == [("level_start", 0), ("level_end", 0), ("level_start", 1), ("level_end", 1)]
    (end,) = [e for e in read_events(run.run_dir) if e.kind == "level_end" and e.step == 1]
    assert end.data["ended_by"] == StopTraining.__name__
    (pipeline_end,) = [
        e for e in read_events(run.run_dir) if e.level == "pipeline" and e.kind == "level_end"
    ]
    assert pipeline_end.data["status"] == "stopped"
    # the stop happened after epoch 1's metrics were stored; no run metrics (run() was cut)
    assert [n for n, _, _ in stored(run) if n.startswith("epoch/")] == ["epoch/train/loss"] * 2


def test_the_epoch_wrapper_with_a_checkpoint_and_no_model(root: Path, tmp_path: Path) -> None:
    config = OmegaConf.create({"pipeline": {"epochs": 3}})
    with ft.start_run("wrapped", experiment="pipelines") as run:
        env = env_for(run, tmp_path)
        pipeline = WrappedEpochs(env)
        with pytest.warns(TrackerWarning, match="no network was given"):
            pipeline.run(config)
        env.close()
    assert pipeline.status is RunStatus.COMPLETED
    assert [(n, s) for n, s, _ in stored(run)] == [
        ("epoch/val/loss", 0),
        ("epoch/val/loss", 1),
        ("epoch/val/loss", 2),
    ]
    checkpoints = [e for e in read_events(run.run_dir) if e.kind == "checkpoint"]
    assert [(e.step, e.level, e.data["metrics"]) for e in checkpoints] == [
        (0, "epoch", {"val/loss": 0.5}),
        (2, "epoch", {"val/loss": 0.3}),
    ]
