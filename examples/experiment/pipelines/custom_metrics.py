"""Seed 001, "Custom Metrics: Tracked vs Untracked": the three ``run_epoch`` blocks and
``DebugMetricsCallback``.

Each ``run_epoch`` block is a top-level function of the same name: each is taken by a
pipeline class right after it (context), before the next block redefines the name. The
values the blocks store (``accuracy_value``, ``grad_max``...) come from elided training
code ("# ... training code ..."): the context gives them module-level values.
``configs/custom_metrics`` runs one trial per pipeline with ``DebugMetricsCallback``,
which warns in the trial run's log when ``debug_gradient_max`` exceeds 10.

What reaches the store: ``Metric.CUSTOM`` pairs, as epoch metrics, under
``epoch/<name>`` (``epoch/model_accuracy``...); ``Metric.CUSTOM_UNTRACKED`` pairs nowhere.

Run: ``python examples/experiment/pipelines/custom_metrics.py``.
"""

# fmt: off
# ruff: noqa: I001, UP006, UP035
# mypy: disable-error-code="no-untyped-def, has-type, override, assignment, no-redef"
# mypy: disable-error-code="comparison-overlap, index, union-attr"
from pathlib import Path
from typing import Any, Dict

from omegaconf import DictConfig

from ferrotrack.experiment import Callback, Experiment, Metric, Pipeline, RunStatus
from ferrotrack.experiment import YAMLSerializable

# Context: what the elided training code computes.
accuracy_value = 0.88
current_lr = 0.01
grad_norm = 1.7
val_score = 0.86
debug_value = 3.2
temp_value = 42.0
counter_value = 7
state_info = {"phase": "warmup"}
val_acc = 0.86
lr = 0.01
grad_max = 12.5
mem_usage = 512.0
train_loss = 0.37


class CustomMetricsDemo(Pipeline):
    """Context: runs ``config.pipeline.epochs`` epochs of the subclass's ``run_epoch``."""

    run_epoch: Any  # each subclass takes one of the guide's blocks

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        for epoch in range(int(config.pipeline.epochs)):
            self.run_epoch(epoch, None)
        return {"epochs": int(config.pipeline.epochs)}


@Pipeline.epoch_wrapper
def run_epoch(self, epoch_idx: int, model, *args, **kwargs):
    # ... training code ...

    # These metrics will be saved to all trackers
    self.epoch_metrics[Metric.CUSTOM] = [
        ("model_accuracy", accuracy_value),
        ("learning_rate", current_lr),
        ("gradient_norm", grad_norm),
        ("validation_score", val_score),
    ]

    return RunStatus.FINISHED


@YAMLSerializable.register("TrackedCustomMetricsPipeline")
class TrackedCustomMetricsPipeline(CustomMetricsDemo):
    """Context: the "Metric.CUSTOM (Tracked)" block as the epoch."""

    run_epoch = run_epoch


@Pipeline.epoch_wrapper
def run_epoch(self, epoch_idx: int, model, *args, **kwargs):
    # ... training code ...

    # These metrics are only accessible in callbacks, not tracked
    self.epoch_metrics[Metric.CUSTOM_UNTRACKED] = [
        ("debug_tensor_norm", debug_value),
        ("temp_calculation", temp_value),
        ("internal_counter", counter_value),
        ("intermediate_state", state_info),
    ]

    return RunStatus.FINISHED


@YAMLSerializable.register("UntrackedCustomMetricsPipeline")
class UntrackedCustomMetricsPipeline(CustomMetricsDemo):
    """Context: the "Metric.CUSTOM_UNTRACKED (Untracked)" block as the epoch."""

    run_epoch = run_epoch


@Pipeline.epoch_wrapper
def run_epoch(self, epoch_idx: int, model, *args, **kwargs):
    # ... training code ...

    # Tracked: Important metrics for analysis
    self.epoch_metrics[Metric.CUSTOM] = [
        ("val_accuracy", val_acc),
        ("learning_rate", lr),
    ]

    # Untracked: Debug info
    self.epoch_metrics[Metric.CUSTOM_UNTRACKED] = [
        ("debug_gradient_max", grad_max),
        ("debug_memory_usage", mem_usage),
    ]

    # Standard metrics work as always
    self.epoch_metrics[Metric.TRAIN_LOSS] = train_loss
    self.epoch_metrics[Metric.VAL_ACC] = val_acc

    return RunStatus.FINISHED


@YAMLSerializable.register("BothCustomMetricsPipeline")
class BothCustomMetricsPipeline(CustomMetricsDemo):
    """Context: the "Using Both Together" block as the epoch."""

    run_epoch = run_epoch


class DebugMetricsCallback(Callback):
    """Process untracked debug metrics."""

    def on_epoch_end(self, epoch_idx: int, metrics: Dict[str, Any]) -> bool:
        # Access untracked metrics
        if Metric.CUSTOM_UNTRACKED in metrics:
            for name, value in metrics[Metric.CUSTOM_UNTRACKED]:
                # Conditional logging based on debug values
                if "debug_gradient_max" in name and value > 10.0:
                    self.env.logger.warning(f"High gradient detected: {value}")

        return False  # Continue training


# Context: the config names the callback, so it is registered under its class name.
YAMLSerializable.register("DebugMetricsCallback")(DebugMetricsCallback)

if __name__ == "__main__":
    experiment = Experiment.create(Path(__file__).parent / "configs" / "custom_metrics")
    outcome = experiment.run()
    print(experiment.results().select("trial", "repeat", "status"))
