"""The ``aim`` backend: a run mirrored into a local Aim repository (one per store by
default, so ``aim up`` shows every run), with its params, tags, status and every point.

``docs/backends/aim.md`` has the mapping, the settings and the limits.
"""

from __future__ import annotations

from ferrotrack.backends.aim.backend import AimBackend
from ferrotrack.backends.aim.config import AimConfig

__all__ = ["AimBackend", "AimConfig"]
