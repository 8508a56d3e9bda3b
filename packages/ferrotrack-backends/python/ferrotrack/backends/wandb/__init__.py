"""The ``wandb`` backend: a run mirrored into Weights & Biases (offline files by default,
a W&B server when configured), and ``ferrotrack import wandb`` for the other way round.

Params become the W&B config, tags ``key:value`` labels, points history rows (one per
step, on the ``ferrotrack/step`` axis), the final status the exit code and summary.
``docs/backends/wandb.md`` has the mapping. wandb itself is imported when a run opens.
"""

from __future__ import annotations

from ferrotrack.backends.wandb.backend import WandbBackend
from ferrotrack.backends.wandb.config import STEP_METRIC, WandbConfig

__all__ = ["STEP_METRIC", "WandbBackend", "WandbConfig"]
