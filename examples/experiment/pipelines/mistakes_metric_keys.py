"""Seed 001, "Not using proper Metric enums": the guide's block, a fragment run by
``common_mistakes.py`` with ``self`` (the pipeline) and ``loss`` as its globals."""

# fmt: off
# ruff: noqa: F821
# mypy: ignore-errors
from ferrotrack.experiment import Metric

# Don't do this
self.env.tracker_manager.track("train_loss", loss)  # Wrong!

# Do this instead
self.env.tracker_manager.track(Metric.TRAIN_LOSS, loss)  # Correct!
