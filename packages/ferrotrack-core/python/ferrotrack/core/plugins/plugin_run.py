"""A run set up first and started later, the way seed 002 uses Tracelet's ``Experiment``.

Plugin guides (and their readers' code) make the experiment object, register plugin
instances on its manager, then start it::

    exp = PluginRun(name="custom_experiment")
    exp._plugin_manager.register_plugin(NeptuneBackend())
    exp.start()
    exp.log_metric("accuracy", 0.95, iteration=1)
    exp.stop()

:func:`ferrotrack.core.start_run` takes the plugins as arguments instead; this class only
gathers them until :meth:`start` and then hands them to ``start_run``, so the run behaves
exactly like any other (same store, delivery, collectors and frameworks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.manager import PluginManager, PluginSpec

if TYPE_CHECKING:
    from ferrotrack.core.run import Run, Status

__all__ = ["PluginRun"]


def _names(value: str | Sequence[PluginSpec] | None, what: str) -> list[PluginSpec]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence):
        raise InvalidArgumentError(f"{what}: expected a name or a list of plugins, got {value!r}")
    return list(value)


class PluginRun:
    """A run whose plugins may be registered on :attr:`_plugin_manager` before :meth:`start`.

    ``backend`` (Tracelet's spelling) and ``backends``, ``collectors``, ``frameworks`` take
    names, classes or instances like :func:`~ferrotrack.core.start_run`; every other keyword
    goes to ``start_run`` unchanged. Plugin instances and classes registered on the manager
    join the run with the kind their metadata gives. After :meth:`start`, attributes of the
    :class:`~ferrotrack.core.Run` are reachable on this object (``exp.run_id``,
    ``exp.log(...)``).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        backend: str | Sequence[PluginSpec] | None = None,
        backends: Sequence[PluginSpec] | None = None,
        collectors: Sequence[PluginSpec] | None = None,
        frameworks: Sequence[PluginSpec] | None = None,
        **start_run_kwargs: Any,
    ) -> None:
        if backend is not None and backends is not None:
            raise InvalidArgumentError("give backend or backends, not both")
        self.name = name
        self._plugin_manager = PluginManager()
        self._wanted: dict[PluginType, list[PluginSpec] | None] = {
            PluginType.BACKEND: None
            if backend is None and backends is None
            else _names(backend if backend is not None else backends, "backend"),
            PluginType.COLLECTOR: None if collectors is None else _names(collectors, "collectors"),
            PluginType.FRAMEWORK: None if frameworks is None else _names(frameworks, "frameworks"),
        }
        self._kwargs = start_run_kwargs
        self._run: Run | None = None

    @property
    def run(self) -> Run:
        """The ferrotrack run; :class:`InvalidArgumentError` before :meth:`start`."""
        if self._run is None:
            raise InvalidArgumentError(f"run {self.name!r} is not started: call start() first")
        return self._run

    def _registered(self, kind: PluginType) -> list[PluginSpec]:
        """Instances (or classes) registered on the manager by hand, of ``kind``."""
        specs: list[PluginSpec] = []
        for info in self._plugin_manager._registered.values():
            if info.kind is not kind:
                continue
            if info.instance is not None:
                specs.append(info.instance)
            elif info.plugin_class is not None:
                specs.append(info.plugin_class)
        return specs

    def start(self) -> Run:
        """Starts the run with the named and the registered plugins; returns it."""
        if self._run is not None:
            return self._run
        from ferrotrack.core.starting import start_run

        self._run = start_run(
            self.name,
            backends=self._plugins(PluginType.BACKEND),
            collectors=self._plugins(PluginType.COLLECTOR),
            frameworks=self._plugins(PluginType.FRAMEWORK),
            **self._kwargs,
        )
        return self._run

    def _plugins(self, kind: PluginType) -> list[PluginSpec] | None:
        """The named plugins of ``kind`` and the registered ones; ``None`` (the settings'
        choice, as in ``start_run``) when there are neither."""
        named, registered = self._wanted[kind], self._registered(kind)
        if named is None and not registered:
            return None
        return [*(named or []), *registered]

    def log_metric(self, name: str, value: float, iteration: int | None = None) -> None:
        """One point (Tracelet's spelling of ``run.log(name, value, step)``)."""
        self.run.log(name, value, step=iteration)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merges ``params`` into the run's params."""
        self.run.log_params(params)

    def stop(self, status: str = "finished") -> None:
        """Finishes the run (a no-op when it never started or already finished)."""
        if self._run is not None:
            self._run.finish(cast("Status", status))  # finish checks the value

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(self.run, attribute)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.run.__exit__(exc_type, exc, tb)
