"""The ``mlflow`` backend: each ferrotrack run mirrored as one MLflow run in the same-named
experiment (params flattened with dots, tags, status, artifacts, parent, every point with
its step and time), and ``ferrotrack import mlflow`` (:mod:`.importer`) for the way back.

MLflow itself is imported only when the backend opens a run; ``docs/backends/mlflow.md``
has the mapping and the settings.
"""

from __future__ import annotations

from ferrotrack.backends.mlflow.backend import MlflowBackend
from ferrotrack.backends.mlflow.config import MlflowConfig

__all__ = ["MlflowBackend", "MlflowConfig"]
