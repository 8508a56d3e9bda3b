"""The demo experiment's pipeline: a simulated training loop, one trial run per call.

``ferrotrack experiment run examples/demo_experiment --import \
    examples/demo_experiment/pipelines.py``
registers it by importing this file.
"""

from __future__ import annotations

import math
import random
from typing import Any

from omegaconf import DictConfig

from ferrotrack.experiment import Environment, Metric, Pipeline, YAMLSerializable

FLOOR = 0.2
"""The loss this model cannot go below: its curve flattens and early stopping ends it."""


class DivergedError(RuntimeError):
    """The loss went to infinity: what a too-high learning rate does."""


@YAMLSerializable.register("DemoSweepPipeline")
class DemoSweepPipeline(Pipeline, YAMLSerializable):
    """Fits a noisy exponential decay; the learning rate sets how fast, too high diverges."""

    def __init__(self, env: Environment, id: int | None = None) -> None:
        super().__init__(env, id)
        self.loss = 2.0

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        lr = float(config.optimizer.lr)
        for epoch in range(config.pipeline.epochs):
            self.run_epoch(epoch, lr, config.pipeline.batches)
        self.run_metrics[Metric.TEST_LOSS] = self.loss * 1.05
        self.run_metrics[Metric.TEST_ACC] = 1.0 - self.loss / 2.5
        return {"final_loss": self.loss}

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int, lr: float, batches: int) -> None:
        manager = self.env.tracker_manager
        for batch in range(batches):
            step = epoch_idx * batches + batch
            decay = math.exp(-lr * (1.0 - lr * 4.0)) * (1 + random.gauss(0, 0.002))
            self.loss = FLOOR + (self.loss - FLOOR) * decay
            if not math.isfinite(self.loss) or self.loss > 1e6:
                raise DivergedError(f"loss diverged at step {step} with lr={lr}")
            manager.track(Metric.TRAIN_LOSS, self.loss, step=step)
        self.epoch_metrics[Metric.VAL_LOSS] = self.loss * 1.1
        self.epoch_metrics[Metric.VAL_ACC] = 1.0 - self.loss / 2.5
        self.epoch_metrics[Metric.LEARNING_RATE] = lr
