"""The ``clearml`` backend: a run mirrored as a ClearML task, offline by default (a session
folder beside the run that ``Task.import_offline_session`` uploads later), with its
hyperparameters, tags, status and every finite point.

``docs/backends/clearml.md`` has the mapping, the settings and the limits.
"""

from __future__ import annotations

from ferrotrack.backends.clearml.backend import ClearmlBackend
from ferrotrack.backends.clearml.config import ClearmlConfig
from ferrotrack.backends.clearml.session import OfflineSession, Scalar, read_session

__all__ = ["ClearmlBackend", "ClearmlConfig", "OfflineSession", "Scalar", "read_session"]
