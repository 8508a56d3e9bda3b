"""``Tracker``: the base of user trackers, which see what an experiment tracks as it happens.

The store gets everything through the ``TrackerManager`` whatever the trackers do; a tracker
is for extra destinations or side effects of one's own. Every hook is a no-op here, so a
subclass overrides only what it needs. Trackers receive the raw keys and values
(``Metric.TRAIN_LOSS``, ``(name, value)`` pairs of ``Metric.CUSTOM``), never the untracked
ones (``Metric.NETWORK``, ``Metric.CUSTOM_UNTRACKED``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ferrotrack.experiment.common import Level, Metric
from ferrotrack.experiment.serializable import YAMLSerializable

__all__ = ["Tracker"]


class Tracker(YAMLSerializable):
    """Base of user trackers; register one with ``@YAMLSerializable.register("Name")`` to
    name it in ``env.yaml`` (``trackers: [{type: Name, ...}]``)."""

    def __init__(self, workspace: str | Path | None = None) -> None:
        self.workspace: Path | None = None if workspace is None else Path(workspace)

    def track(
        self, metric: Metric | str, value: Any, step: int | None = None, *args: Any, **kwargs: Any
    ) -> None:
        """One tracked value (``Metric.CUSTOM`` values are ``(name, value)`` or a list)."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Parameters of the run this tracker's level belongs to."""

    def on_create(self, level: Level, *args: Any, **kwargs: Any) -> None:
        """A level (trial, epoch, ...) is about to start; ``kwargs`` its context."""

    def on_start(self, level: Level, *args: Any, **kwargs: Any) -> None:
        """A level started."""

    def on_end(self, level: Level, *args: Any, **kwargs: Any) -> None:
        """A level ended (``status`` in ``kwargs`` when known)."""

    def on_checkpoint(
        self,
        network: Any,
        checkpoint_path: str,
        metrics: Mapping[Any, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """A checkpoint was recorded (the file, when present, is already an artifact)."""

    def on_add_artifact(
        self,
        level: Level,
        artifact_path: str,
        artifact_type: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """A file was recorded as an artifact of the run."""

    def create_child(self, workspace: str | Path | None = None) -> Tracker:
        """The tracker of a nested level (a trial of an experiment, ...); by default this
        same tracker, so one object sees the whole experiment."""
        return self

    def save(self) -> None:
        """Writes what the tracker buffered; called when its manager's own level ends."""

    @classmethod
    def from_config(cls, config: DictConfig, workspace: str | Path | None = None) -> Tracker:
        """Builds the tracker from its ``env.yaml`` entry; the default ignores the fields."""
        return cls(workspace)
