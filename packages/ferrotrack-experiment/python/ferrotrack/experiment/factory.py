"""Factories build pipelines, callbacks and trackers by the name a config gives them.

``FactoryRegistry`` holds one factory per ``FactoryType``; an experiment asks it for the
factory of a type and gets the user's registered instance or the default one
(``PipelineFactory``, ``CallbackFactory``, ``TrackerFactory``). A user's factory is an
*instance*, so it can carry injected services; its ``create`` may be an instance method or,
as in the Experiment Manager's guides, a staticmethod.
"""

from __future__ import annotations

from enum import Enum
from importlib import import_module
from typing import Any

from ferrotrack.experiment.serializable import YAMLSerializable

__all__ = ["Factory", "FactoryRegistry", "FactoryType"]


class FactoryType(Enum):
    """What a factory builds."""

    PIPELINE = "pipeline"
    CALLBACK = "callback"
    TRACKER = "tracker"


_DEFAULTS = {
    FactoryType.PIPELINE: ("ferrotrack.experiment.pipelines.pipeline_factory", "PipelineFactory"),
    FactoryType.CALLBACK: ("ferrotrack.experiment.callbacks.callback_factory", "CallbackFactory"),
    FactoryType.TRACKER: ("ferrotrack.experiment.trackers.tracker_factory", "TrackerFactory"),
}


class Factory:
    """Base of every factory: builds the class registered under ``name`` from its config."""

    @staticmethod
    def create(name: str, config: Any, *args: Any, **kwargs: Any) -> Any:
        """``YAMLSerializable.get_class(name).from_config(config, *args, **kwargs)``."""
        built: type[YAMLSerializable] = YAMLSerializable.get_class(name)
        return built.from_config(config, *args, **kwargs)


class FactoryRegistry:
    """One factory per ``FactoryType``; the defaults stand in for types not registered.

    >>> registry = FactoryRegistry()
    >>> registry.register(FactoryType.PIPELINE, MyPipelineFactory())  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._factories: dict[FactoryType, Factory] = {}

    def register(self, factory_type: FactoryType, factory: Factory) -> None:
        """Uses ``factory`` (an instance, not a class) for ``factory_type`` from now on."""
        if not isinstance(factory_type, FactoryType):
            raise TypeError(
                f"factory_type must be a FactoryType (PIPELINE, CALLBACK or TRACKER), "
                f"got {factory_type!r}"
            )
        if isinstance(factory, type):
            raise TypeError(
                f"factory must be an instance of Factory, got the class {factory.__name__}; "
                f"register {factory.__name__}() instead"
            )
        if not isinstance(factory, Factory):
            raise TypeError(f"factory must be an instance of Factory, got {type(factory).__name__}")
        self._factories[factory_type] = factory

    def get(self, factory_type: FactoryType) -> Factory:
        """The registered factory of ``factory_type``, else the default one."""
        found = self._factories.get(factory_type)
        if found is None:
            module, name = _DEFAULTS[factory_type]
            found = self._factories[factory_type] = getattr(import_module(module), name)()
        return found
