"""The life of every plugin: ``initialize(config)``, ``start()``, ``stop()``, ``get_status()``."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel, ValidationError

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.metadata import PluginMetadata

__all__ = ["PluginBase", "advance_state", "validate_config"]

_STATES = ("created", "initialized", "started", "stopped", "failed")


def validate_config(metadata: PluginMetadata, config: Mapping[str, Any] | BaseModel | None) -> Any:
    """``config`` checked against the plugin's config model.

    Raises :class:`InvalidArgumentError` naming each bad field and what was expected, never
    the value given (a config may hold secrets), and without chaining pydantic's error, whose
    text repeats the inputs.
    """
    model = metadata.config_model
    if model is None:
        if config:
            raise InvalidArgumentError(
                f"plugin {metadata.name!r} takes no config, got keys {sorted(dict(config))}"
            )
        return None
    if isinstance(config, model):
        return config
    raw: Any = config.model_dump() if isinstance(config, BaseModel) else dict(config or {})
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        message = f"plugin {metadata.name!r}: invalid config: {validation_problems(err)}"
    raise InvalidArgumentError(message)


def validation_problems(err: ValidationError, whole: str = "<config>") -> str:
    """Each problem of ``err`` as ``dotted.key: message``, joined by ``; `` (never the
    offending values: a config may hold secrets); ``whole`` names a problem of no key."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or whole}: {e['msg']}"
        for e in err.errors(include_input=False, include_url=False)
    )


class PluginBase(abc.ABC):
    """Base of every plugin. Subclasses need a constructor that takes no argument.

    Override :meth:`initialize` (call ``super().initialize(config)`` first: it validates
    ``config`` into ``self.config``), :meth:`start` and :meth:`stop`. A plugin is a context
    manager: ``with plugin:`` starts it (initializing it with defaults if needed) and
    stops it, also on exceptions.

    Seed 002's plugins override ``__init__``, ``initialize``, ``start``, ``stop`` and
    ``get_status`` without calling ``super()``: that works. ``config`` and the state have
    class-level defaults, and whoever drives the lifecycle (the plugin manager, ``with``)
    advances the state itself (:func:`advance_state`) after each step.
    """

    config: Any = None
    _state: str = "created"

    def __init__(self) -> None:
        self.config = None
        self._state = "created"

    @classmethod
    @abc.abstractmethod
    def get_metadata(cls) -> PluginMetadata:
        """Facts about the plugin; must not import the plugin's optional dependencies."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why the plugin cannot work on this machine although its libraries import (no
        GPU driver, say), or ``None``. Shown by ``ferrotrack plugins list``; must be cheap
        and must not raise."""
        return None

    @property
    def name(self) -> str:
        """The plugin's name from its metadata."""
        return self.get_metadata().name

    @property
    def state(self) -> str:
        """``created``, ``initialized``, ``started``, ``stopped`` or ``failed``."""
        return self._state

    def initialize(self, config: Mapping[str, Any] | BaseModel | None = None) -> None:
        """Validates ``config`` with the metadata's config model into ``self.config``."""
        self.config = validate_config(self.get_metadata(), config)
        self._state = "initialized"

    def start(self) -> None:
        """Begins work (threads, patches, connections)."""
        self._state = "started"

    def stop(self) -> None:
        """Ends work and releases resources; safe to call twice."""
        self._state = "stopped"

    def get_status(self) -> dict[str, Any]:
        """A JSON-ready status; subclasses add their own keys to ``super().get_status()``."""
        meta = self.get_metadata()
        return {"name": meta.name, "type": str(meta.type), "state": self.state}

    def __enter__(self) -> Self:
        if self.state == "created":
            self.initialize({})
            advance_state(self, "initialized")
        self.start()
        advance_state(self, "started")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        advance_state(self, "stopped")


def advance_state(plugin: PluginBase, state: str) -> None:
    """Records that ``plugin`` went through a lifecycle step, for plugins whose override of
    that step did not call ``super()`` (seed 002's do not). ``failed``, set by the plugin
    itself, is kept."""
    if state not in _STATES:
        raise ValueError(f"unknown plugin state {state!r}; expected one of {_STATES}")
    if plugin.state != "failed":
        plugin._state = state
