"""``BackendTracker``: a ferrotrack backend named in ``env.yaml`` (``{type: mlflow, ...}``).

It tracks nothing itself. Points reach the backend through ferrotrack's delivery (threads
that read the store), never from the training thread: the ``TrackerManager`` asks each
backend tracker for a fresh configured plugin (:meth:`BackendTracker.backend_spec`) and
passes them as ``ft.start_run(backends=[...])`` to every run of the experiment. The config
is checked once, when the tracker is made, so a typo fails the experiment before any trial.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from pydantic import BaseModel, ValidationError

from ferrotrack.core.errors import InvalidArgumentError, InvalidValueError
from ferrotrack.core.plugins import PluginBase, PluginManager, PluginType
from ferrotrack.core.plugins.base import advance_state
from ferrotrack.experiment.errors import ConfigError, UnknownNameError
from ferrotrack.experiment.sections import section_fields
from ferrotrack.experiment.trackers.tracker import Tracker

__all__ = ["BackendTracker", "backend_names"]


def backend_names() -> list[str]:
    """The names of the installed ferrotrack backends (entry-point group
    ``ferrotrack.backends``), usable as a tracker ``type``."""
    return sorted({info.name for info in PluginManager().plugins(PluginType.BACKEND)})


class BackendTracker(Tracker):
    """Stands for the ferrotrack backend ``name`` configured with ``config`` (the tracker's
    ``env.yaml`` entry less ``type``, over the settings' ``backend_configs.<name>``).

    Raises ``ConfigError`` naming the tracker and the key for a config the backend refuses,
    and ``MissingDependencyError`` (with the install hint) when the backend's library is
    not installed.
    """

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any] | DictConfig | None = None,
        workspace: str | Path | None = None,
    ) -> None:
        super().__init__(workspace)
        self.name = name
        self.config: dict[str, Any] = section_fields(
            config, "expected a mapping of backend settings"
        )
        known = backend_names()
        if name not in known:
            raise UnknownNameError("backend", name, known)
        self._plugin_class = PluginManager().load(name, PluginType.BACKEND)
        self._settings_config = _settings_config(name)
        self._check()

    def _merged(self) -> dict[str, Any]:
        return {**self._settings_config, **self.config}

    def _check(self) -> None:
        """Validates the config once, naming each refused key (never its value: a config
        may hold a token)."""
        merged = self._merged()
        model = self._plugin_class.get_metadata().config_model
        if model is None and merged:
            raise ConfigError(
                f"tracker {self.name!r}: the backend takes no settings, got "
                f"{', '.join(sorted(merged))}",
                key=sorted(merged)[0],
            )
        if model is not None:
            _validate(self.name, model, merged)
        try:
            self.backend_spec()
        except (InvalidArgumentError, InvalidValueError) as exc:
            raise ConfigError(f"tracker {self.name!r}: {exc}") from None

    def backend_spec(self) -> PluginBase:
        """A new, initialized instance of the backend, for one ``ft.start_run``: each run
        gets its own, since a backend holds one run's open files or remote run."""
        plugin = self._plugin_class()
        plugin.initialize(self._merged())
        advance_state(plugin, "initialized")
        return plugin

    def __repr__(self) -> str:
        return f"BackendTracker({self.name!r}, keys={sorted(self.config)})"


def _settings_config(name: str) -> dict[str, Any]:
    """``backend_configs.<name>`` of ferrotrack's settings (file and variables): what a
    run started with ``backends=[name]`` would use, e.g. a token kept out of ``env.yaml``."""
    from ferrotrack.core.settings import FerrotrackSettings

    return FerrotrackSettings().plugin_config("backend", name)


def _validate(name: str, model: type[BaseModel], config: dict[str, Any]) -> None:
    try:
        model.model_validate(config)
    except ValidationError as err:
        problems = err.errors(include_input=False, include_url=False)
        keys = [".".join(str(p) for p in e["loc"]) or "<config>" for e in problems]
        detail = "; ".join(f"{k}: {e['msg']}" for k, e in zip(keys, problems, strict=True))
        known = ", ".join(sorted(model.model_fields))
        raise ConfigError(
            f"tracker {name!r}: invalid backend settings ({detail}); the backend's keys: {known}",
            key=keys[0],
        ) from None
