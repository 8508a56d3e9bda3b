"""What every run backend of this package shares: config checking, the ferrotrack run of
each execution, many runs at once with a concurrency limit, and cancelling them all.

A backend writes :meth:`CommandBackend.execute` only. Errors in bad input (the config)
are raised before anything starts; anything after that ends as ``False`` with the reason
recorded in the ferrotrack run, and Ctrl-C ends everything started, then is raised again.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.base import advance_state
from ferrotrack.core.plugins.execution import RunBackendPlugin, run_in_pool
from ferrotrack.core.plugins.imports import require
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.metadata import PluginMetadata
from ferrotrack.run.configs.base import BackendConfig, config_error
from ferrotrack.run.execution import Execution, cancel, model_view, start_execution

__all__ = ["CommandBackend"]

logger = logging.getLogger("ferrotrack.run")


class CommandBackend(RunBackendPlugin):
    """Base of the run backends: ``run(model_run, **config) -> bool``."""

    backend_name: ClassVar[str]
    config_class: ClassVar[type[BackendConfig]]
    extra: ClassVar[str | None] = None
    """The ``ferrotrack-run[...]`` extra this backend's library comes with, if any."""
    library: ClassVar[str | None] = None
    """The module this backend needs (imported only when it runs), if any."""

    @classmethod
    def check_available(cls) -> None:
        """Raises :class:`MissingDependencyError` naming the extra when :attr:`library`
        is not installed (``ferrotrack backends list`` shows it)."""
        if cls.library is not None:
            require(
                cls.library,
                f"the {cls.backend_name} run backend",
                install=f"pip install ferrotrack-run[{cls.extra or cls.backend_name}]",
            )

    def __init__(self) -> None:
        super().__init__()
        self._live: dict[str, Execution] = {}
        self._lock = threading.Lock()
        self._cancelling = threading.Event()
        """Set by :meth:`cancel_all`: an execution that registers after it is cancelled at
        once (a pool thread may be opening its run while Ctrl-C is handled)."""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        doc = (cls.__doc__ or "").strip().splitlines()
        return PluginMetadata(
            name=cls.backend_name,
            type=PluginType.RUN,
            description=doc[0] if doc else "",
            config_model=cls.config_class,
            extra=cls.extra,
        )

    def initialize(self, config: Mapping[str, Any] | BaseModel | None = None) -> None:
        """Each ``run()`` brings its whole config, so an empty one here is fine (a default
        cannot always be built: Docker needs an image or a Dockerfile); a given one is
        checked."""
        if config:
            super().initialize(config)
        else:
            self.config = None
            advance_state(self, "initialized")

    def make_config(self, model_run: Any, options: Mapping[str, Any]) -> BackendConfig:
        """``options`` checked against :attr:`config_class` (``backend_type`` optional)."""
        data = dict(options)
        given = data.pop("backend_type", self.backend_name)
        if given != self.backend_name:
            raise InvalidArgumentError(
                f"backend {self.backend_name!r} got a config for backend_type {given!r}"
            )
        try:
            return self.config_class.model_validate(data)
        except ValidationError as err:
            raise config_error(self.backend_name, err) from None

    def run(self, model_run: Any, **kwargs: Any) -> bool:
        """Generates the inputs, then executes; ``True`` when the model run succeeded.

        Raises :class:`ferrotrack.run.errors.BackendConfigError` for a bad config (nothing
        started); every later failure is ``False``, with the reason in the ferrotrack run.
        """
        config = kwargs.pop("config", None)
        if config is None:
            config = self.make_config(model_run, kwargs)
        elif kwargs:
            config = self.make_config(model_run, {**config.model_dump(), **kwargs})
        execution = start_execution(model_run, self.backend_name, config)
        try:
            with self._lock:
                self._live[execution.run.run_id] = execution
            if self._cancelling.is_set():
                cancel(execution)  # the command never starts (run_command checks first)
            try:
                model_run.generate()
            except Exception as exc:
                return execution.fail(f"generate() failed: {type(exc).__name__}: {exc}")
            return self.execute(execution, model_run, config)
        except KeyboardInterrupt:
            self.on_interrupt(execution)
            execution.interrupted()
            raise
        except Exception as exc:
            logger.exception("backend %s: %r failed", self.backend_name, execution)
            return execution.fail(f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._live.pop(execution.run.run_id, None)

    @abc.abstractmethod
    def execute(self, execution: Execution, model_run: Any, config: Any) -> bool:
        """Runs the model run's command for ``execution``; records and returns the outcome
        (``execution.record(result)``)."""

    def on_interrupt(self, execution: Execution) -> None:
        """Called on Ctrl-C before the run is marked killed: end what this backend started
        elsewhere (a container, a job). Local processes are already ended by then."""

    def run_many(
        self, model_runs: Sequence[Any], *, max_concurrency: int = 4, **kwargs: Any
    ) -> list[bool]:
        """Runs several model runs, at most ``max_concurrency`` at once; one bool each.

        Ctrl-C (or any exception here) cancels every one still running and waits for them
        to end before it is raised again.
        """
        config = kwargs.pop("config", None)
        if config is None or kwargs:
            base = config.model_dump(exclude_unset=True) if config is not None else {}
            config = self.make_config(None, {**base, **kwargs})
        self._cancelling.clear()
        return run_in_pool(
            lambda model_run: self.run(model_run, config=config),
            model_runs,
            max_concurrency,
            on_abort=self.cancel_all,
        )

    def cancel_all(self) -> None:
        """Asks every execution this backend has running to end, and those that register
        from now on (until the next ``run_many``)."""
        self._cancelling.set()
        with self._lock:
            live = list(self._live.values())
        for execution in live:
            cancel(execution)
            self.on_interrupt(execution)

    def describe(self, model_run: Any) -> str:
        """``<backend>:<run id>`` for messages."""
        return f"{self.backend_name}:{model_view(model_run).run_id}"
