"""Which checkpoint files a ``ModelCheckpoint`` callback has just written.

Lightning tells loggers *that* a checkpoint was saved (``after_save_checkpoint``), not
which file. The callback's public paths (``best_k_models``, ``last_model_path``,
``best_model_path``) and the path it saved last are compared with what was already seen,
by modification time and size, so a file rewritten under the same name (``last.ckpt``)
counts again and a file seen before does not. Duck-typed: no Lightning import here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferrotrack.frameworks._support import as_number

__all__ = ["CheckpointTracker", "SavedCheckpoint"]


@dataclass(frozen=True, slots=True)
class SavedCheckpoint:
    """One checkpoint file as it was when it was noticed."""

    path: Path
    step: int | None
    score: float | None
    monitor: str | None

    def event_data(self, artifact: str | None) -> dict[str, Any]:
        """The ``data`` of the run's ``checkpoint`` event."""
        return {
            "path": str(self.path),
            "monitor": self.monitor,
            "score": self.score,
            "artifact": artifact,
        }


class CheckpointTracker:
    """Remembers the checkpoint files already recorded; :meth:`new` gives the others."""

    __slots__ = ("_seen", "latest")

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, int]] = {}
        self.latest: SavedCheckpoint | None = None

    def new(self, callback: Any) -> list[SavedCheckpoint]:
        """The files ``callback`` wrote since the last call, oldest first."""
        best_k = getattr(callback, "best_k_models", None) or {}
        candidates = [
            getattr(callback, "_last_checkpoint_saved", None),
            getattr(callback, "last_model_path", None),
            getattr(callback, "best_model_path", None),
            *best_k,
        ]
        step = getattr(callback, "_last_global_step_saved", None)
        monitor = getattr(callback, "monitor", None)
        found: list[tuple[int, SavedCheckpoint]] = []
        for candidate in dict.fromkeys(str(c) for c in candidates if c):
            try:
                stat = os.stat(candidate)
            except OSError:  # deleted again (top-k) or on another node
                continue
            signature = (stat.st_mtime_ns, stat.st_size)
            if self._seen.get(candidate) == signature:
                continue
            self._seen[candidate] = signature
            score = as_number(best_k.get(candidate)) if candidate in best_k else None
            saved = SavedCheckpoint(
                path=Path(candidate),
                step=step if isinstance(step, int) and not isinstance(step, bool) else None,
                score=score,
                monitor=monitor if isinstance(monitor, str) else None,
            )
            found.append((stat.st_mtime_ns, saved))
        found.sort(key=lambda pair: pair[0])
        if found:
            self.latest = found[-1][1]
        return [saved for _, saved in found]
