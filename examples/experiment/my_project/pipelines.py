"""The pipeline ``configs/my_experiment`` names (context the guide leaves out): it fails on
its first attempts of an epoch, ``config.pipeline.flaky_epochs`` times, and retries up to the
``max_retries`` that ``ResilientPipelineFactory`` gave it."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from ferrotrack.experiment import Metric, Pipeline, RunStatus, YAMLSerializable

__all__ = ["FlakyPipeline"]


class TransientError(RuntimeError):
    """A failure worth retrying (a dropped connection, a busy GPU...)."""


@YAMLSerializable.register("FlakyPipeline")
class FlakyPipeline(Pipeline):
    """``epochs`` epochs; the first ``flaky_epochs`` attempts raise ``TransientError``."""

    max_retries: int = 0
    retry_count: int = 0

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        failures_left = int(config.pipeline.get("flaky_epochs", 0))
        for epoch in range(int(config.pipeline.epochs)):
            while True:
                try:
                    if failures_left > 0:
                        failures_left -= 1
                        raise TransientError(f"epoch {epoch}: simulated transient failure")
                    self.run_epoch(epoch)
                    break
                except TransientError as exc:
                    if self.retry_count >= self.max_retries:
                        raise
                    self.retry_count += 1
                    self.env.logger.warning(f"retry {self.retry_count}: {exc}")
        self.run_metrics[Metric.CUSTOM] = ("retries", self.retry_count)
        return {"retries": self.retry_count}

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> RunStatus:
        self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0 / (epoch_idx + 1)
        return RunStatus.COMPLETED
