"""``TrackerFactory``: builds the trackers ``env.yaml`` names.

A ``type`` registered as a ``Tracker`` subclass (``@YAMLSerializable.register``, or the
``ferrotrack.experiment.trackers`` entry-point group) is built by its ``from_config``; any
other ``type`` must be a ferrotrack backend (``jsonl``, ``tensorboard``, ``mlflow``, ...),
which becomes a ``BackendTracker``.
"""

from __future__ import annotations

from typing import Any, cast

from ferrotrack.experiment.errors import UnknownNameError
from ferrotrack.experiment.factory import Factory
from ferrotrack.experiment.sections import as_dictconfig
from ferrotrack.experiment.serializable import YAMLSerializable
from ferrotrack.experiment.trackers.backend_tracker import BackendTracker, backend_names
from ferrotrack.experiment.trackers.tracker import Tracker

__all__ = ["TrackerFactory"]


class TrackerFactory(Factory):
    """The default tracker factory (``FactoryType.TRACKER``)."""

    @staticmethod
    def create(name: str, config: Any, workspace: Any) -> Tracker:
        """The tracker ``name`` built from its config section ``config`` (a ``DictConfig``,
        a mapping or ``None``) for ``workspace`` (a path or ``None``). Loosely typed so that
        subclasses may narrow the types, as the guides' factories do.

        Raises ``UnknownNameError`` listing the tracker classes and backends when ``name``
        is neither, ``ConfigError`` when a backend refuses its settings.
        """
        section = as_dictconfig(config)
        try:
            cls = cast(
                "type[Tracker]", YAMLSerializable.get_class(name, kind="tracker", base=Tracker)
            )
        except UnknownNameError as unknown:
            backends = backend_names()
            if name in backends:
                return BackendTracker(name, section, workspace)
            raise UnknownNameError("tracker", name, [*unknown.known, *backends]) from None
        tracker = cls.from_config(section, workspace)
        if not isinstance(tracker, Tracker):
            raise TypeError(
                f"tracker {name!r}: {cls.__name__}.from_config returned "
                f"{type(tracker).__name__}, expected a Tracker"
            )
        return tracker
