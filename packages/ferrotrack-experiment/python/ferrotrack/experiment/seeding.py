"""Seeding a trial run's random generators, so that a repeat with the same seed replays."""

from __future__ import annotations

import random
import sys
from importlib import import_module

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> None:
    """Seeds ``random``, and numpy and torch when the process already imported them.

    ``import_module`` rather than ``sys.modules``: another thread (a backend loading pyarrow)
    may be importing numpy right now, and only the import waits until it is complete.
    """
    random.seed(seed)
    if "numpy" in sys.modules:
        import_module("numpy").random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import_module("torch").manual_seed(seed)
