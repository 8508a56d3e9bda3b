"""The active-run registry: which runs of this process are open, most recent last.

Module-level ``ft.log(...)`` acts on the most recent open run; the exit hooks finish every
open run. Kept apart from :mod:`ferrotrack.core.run` so both can use it without a cycle.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferrotrack.core.run import Run

__all__ = ["current", "forget", "open_runs", "remember"]

_active: list[Run] = []
_lock = threading.Lock()


def remember(run: Run) -> None:
    """Makes ``run`` the active run."""
    with _lock:
        _active.append(run)


def forget(run: Run) -> None:
    """Takes ``run`` out of the registry (it finished)."""
    with _lock:
        if run in _active:
            _active.remove(run)


def current() -> Run | None:
    """The most recently started run still open, or ``None``."""
    with _lock:
        return _active[-1] if _active else None


def open_runs() -> list[Run]:
    """Every open run, most recent first (the order in which they are finished at exit)."""
    with _lock:
        return list(reversed(_active))


def _forget_inherited() -> None:
    """In a forked child (a DataLoader worker, a ``multiprocessing`` fork), the parent's open
    runs belong to the parent: the child has a copy of their writers with no flush thread,
    so logging there would be lost, and its exit hooks would mark the parent's runs
    finished. The child starts with no active run (and a fresh lock: the parent's may have
    been held by another thread at the fork)."""
    global _lock
    _lock = threading.Lock()
    _active.clear()


os.register_at_fork(after_in_child=_forget_inherited)
