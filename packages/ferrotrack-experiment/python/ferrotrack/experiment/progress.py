"""Progress bars of ``Experiment.run``: one for trial runs, one for the epochs of the current one.

The epoch bar is fed by wrapping ``on_end`` of the trial run's own ``TrackerManager`` (an
instance attribute, so nothing else sees it): an epoch end happens a few times a minute, so
the bar costs nothing on the per-point path (``track``), which is never touched.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ferrotrack.experiment.common import Level

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["TrialProgress"]


class TrialProgress:
    """The two bars on stderr, or nothing at all when ``enabled`` is false (``None``: only
    when stderr is a terminal)."""

    def __init__(self, total: int, *, enabled: bool | None = None) -> None:
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bars: Progress | None = None
        self._runs: TaskID | None = None
        self._epochs: TaskID | None = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bars = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._runs = self._bars.add_task("trial runs", total=total)

    @property
    def enabled(self) -> bool:
        """Whether bars are shown."""
        return self._bars is not None

    def __enter__(self) -> TrialProgress:
        if self._bars is not None:
            self._bars.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bars is not None:
            self._bars.stop()

    def skipped(self, label: str) -> None:
        """A trial run already done: counts as progress without running."""
        if self._bars is not None and self._runs is not None:
            self._bars.update(self._runs, advance=1, description=f"skipped {label}")

    def start(self, label: str, epochs: int | None, tracker_manager: Any) -> None:
        """A trial run begins: a fresh epoch bar (``epochs`` may be unknown), fed by its
        tracker manager's epoch ends."""
        if self._bars is None or self._runs is None:
            return
        bars = self._bars
        bars.update(self._runs, description=f"trial run {label}")
        if self._epochs is not None:
            bars.remove_task(self._epochs)
        epochs_task = self._epochs = bars.add_task(f"  epochs of {label}", total=epochs)
        original: Callable[..., None] = tracker_manager.on_end

        def on_end(level: Level, *args: Any, **ctx: Any) -> None:
            try:
                original(level, *args, **ctx)
            finally:  # a stop raised out of the epoch end still ends the epoch
                if level is Level.EPOCH:
                    bars.advance(epochs_task)

        setattr(tracker_manager, "on_end", on_end)  # noqa: B010 (instance override)

    def finished(self, label: str, status: str) -> None:
        """A trial run ended with ``status``."""
        if self._bars is not None and self._runs is not None:
            self._bars.update(self._runs, advance=1, description=f"{status} {label}")
