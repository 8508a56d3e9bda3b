"""Seed 001, "Available Metrics": the ``Metric`` keys the guide lists, each an expression
statement as written, then (context) the store name each becomes.

Run: ``python examples/experiment/pipelines/available_metrics.py``.
"""

# fmt: off
# ruff: noqa: B018
from ferrotrack.experiment import Metric
from ferrotrack.experiment.common import METRIC_NAMES

# Standard metrics
Metric.TRAIN_LOSS      # Training loss
Metric.TRAIN_ACC       # Training accuracy
Metric.VAL_LOSS        # Validation loss
Metric.VAL_ACC         # Validation accuracy
Metric.TEST_LOSS       # Test loss
Metric.TEST_ACC        # Test accuracy
Metric.LEARNING_RATE   # Learning rate

# Custom metrics
Metric.CUSTOM          # Format: (metric_name, value)

# Context: the name each key is stored under (CUSTOM pairs keep their own names).
for key in (Metric.TRAIN_LOSS, Metric.TRAIN_ACC, Metric.VAL_LOSS, Metric.VAL_ACC,
            Metric.TEST_LOSS, Metric.TEST_ACC, Metric.LEARNING_RATE):
    print(f"{key.name:<14} -> {METRIC_NAMES[key]}")
print(f"{Metric.CUSTOM.name:<14} -> its own name")
