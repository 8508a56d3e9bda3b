"""Seed 001, "Approach 2: Manual Epoch Management": ``PerformanceDemoPipelineManual``.

The class has no ``__init__`` or ``from_config``: ``Pipeline``'s defaults build it. Its
``tracker_manager.on_end(Level.EPOCH)`` is what tracks ``epoch_metrics`` (as
``epoch/train/loss``...) and runs the callbacks, as the guide's comment says.

The block elides its training ("# ... training code here ...") and never defines
``avg_train_loss``, ``avg_train_acc``, ``final_test_loss`` or ``final_test_acc``: the context
below gives them fixed module-level values (the names resolve as globals when ``run`` runs).

Run: ``python examples/experiment/pipelines/performance_demo_manual.py``.
"""

# fmt: off
# ruff: noqa: I001, F401, UP006, UP035
from pathlib import Path

from ferrotrack.experiment import Experiment
import time
import numpy as np
from omegaconf import DictConfig
from typing import Dict, Any

from ferrotrack.experiment import Level, Metric, RunStatus
from ferrotrack.experiment import Environment
from ferrotrack.experiment import Pipeline
from ferrotrack.experiment import YAMLSerializable

# Context: what the elided training code would compute.
avg_train_loss = 0.42
avg_train_acc = 0.81
final_test_loss = 0.47
final_test_acc = 0.79

@YAMLSerializable.register("PerformanceDemoPipelineManual")
class PerformanceDemoPipelineManual(Pipeline, YAMLSerializable):
    """Performance monitoring demo with manual epoch lifecycle management."""

    @Pipeline.run_wrapper  # Still required!
    def run(self, config: DictConfig) -> Dict[str, Any]:
        epochs = config.pipeline.get('epochs', 3)
        batches_per_epoch = config.pipeline.get('batches_per_epoch', 8)

        # Log parameters
        self.env.tracker_manager.log_params({
            "pipeline_type": "PerformanceDemoPipelineManual",
            "epochs": epochs,
            "batches_per_epoch": batches_per_epoch
        })

        # Training loop with manual epoch management
        for epoch in range(epochs):
            self.env.logger.info(f"Epoch {epoch + 1}/{epochs}")

            # Manual epoch lifecycle management
            self.env.tracker_manager.on_create(Level.EPOCH, epoch_id=epoch)
            self.env.tracker_manager.on_start(Level.EPOCH)

            # CRITICAL: Clear epoch metrics at start of each epoch
            self.epoch_metrics.clear()

            # ... training code here ...

            # Store epoch metrics
            self.epoch_metrics[Metric.TRAIN_LOSS] = avg_train_loss
            self.epoch_metrics[Metric.TRAIN_ACC] = avg_train_acc

            # Manual end of epoch - this tracks epoch_metrics automatically
            self.env.tracker_manager.on_end(Level.EPOCH)

            # Manual clearing (since we're not using @epoch_wrapper)
            self.epoch_metrics.clear()

        # Store final results
        self.run_metrics[Metric.TEST_LOSS] = final_test_loss
        self.run_metrics[Metric.TEST_ACC] = final_test_acc

        return {"status": "completed"}


# Context: run the experiment of configs/performance_demo_manual.
if __name__ == "__main__":
    experiment = Experiment.create(Path(__file__).parent / "configs" / "performance_demo_manual")
    outcome = experiment.run()
    print(experiment.results().select("trial", "repeat", "status", "test/loss"))
