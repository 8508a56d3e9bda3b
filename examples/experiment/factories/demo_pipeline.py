"""The pipeline the seed-000 factory examples build (context the guide leaves out: its
factories need some registered pipeline to create). A few epochs of a made-up loss."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from ferrotrack.experiment import Metric, Pipeline, RunStatus, YAMLSerializable

__all__ = ["FactoryDemoPipeline"]


@YAMLSerializable.register("FactoryDemoPipeline")
class FactoryDemoPipeline(Pipeline):
    """``config.pipeline.epochs`` epochs; the loss falls as ``1 / (epoch + 1)``."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        epochs = int(config.pipeline.epochs)
        for epoch in range(epochs):
            self.run_epoch(epoch)
        self.run_metrics[Metric.TEST_LOSS] = 1.0 / (epochs + 1)
        return {"epochs": epochs}

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> RunStatus:
        loss = 1.0 / (epoch_idx + 1)
        self.env.tracker_manager.track(Metric.TRAIN_LOSS, loss, step=epoch_idx)
        self.epoch_metrics[Metric.TRAIN_LOSS] = loss
        self.epoch_metrics[Metric.VAL_LOSS] = loss * 1.1
        return RunStatus.COMPLETED
