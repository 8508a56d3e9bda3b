"""The plugins of one run: what ``start_run(backends=..., collectors=..., frameworks=...)``
drives, created, started and stopped in the right order.

>>> session = PluginSession.open(run_dir, sink=run, info=info,            # doctest: +SKIP
...                              backends=["mlflow"], collectors=["system"])
>>> session.attach(writer)               # flushed batches now reach the backends
>>> session.log_params({"lr": 0.1}, rows=writer_rows)                     # doctest: +SKIP
>>> session.stop_sources(); writer.close(); session.close("finished")     # doctest: +SKIP

Every method is called from the user's thread and never waits on a backend, except
:meth:`close`, which drains (after the store is final: mirrors follow it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.delivery.feeder import Feeder
from ferrotrack.core.delivery.orchestrator import (
    Orchestrator,
    Route,
    delivery_options,
    run_info,
)
from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.collector import (
    CollectorPlugin,
    RunSink,
    as_collector,
    dispatch_metrics,
)
from ferrotrack.core.plugins.framework import ActiveRunEmitter, FrameworkPlugin
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.manager import PluginManager, PluginSpec
from ferrotrack.core.plugins.metric import MetricData
from ferrotrack.core.plugins.processor import ProcessorPlugin

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core._native import MetricWriter
    from ferrotrack.core.records import RunEvent, RunInfo
    from ferrotrack.core.settings import FerrotrackSettings

__all__ = ["PluginSession"]


def _config(settings: FerrotrackSettings, kind: str, spec: PluginSpec) -> dict[str, Any] | None:
    """The settings' config of a plugin given by name, or of an instance not initialized yet
    (found by its name); instances already initialized come configured."""
    if isinstance(spec, PluginBase):
        if spec.state != "created":
            return None
        name = spec.name
    elif isinstance(spec, str):
        name = spec
    else:
        return None
    config: dict[str, Any] = settings.plugin_config(kind, name)
    return config


@dataclass
class PluginSession:
    """A run's plugin manager, delivery (orchestrator and feeder), collectors and frameworks."""

    manager: PluginManager
    orchestrator: Orchestrator | None
    collectors: list[CollectorPlugin] = field(default_factory=list)
    frameworks: list[FrameworkPlugin] = field(default_factory=list)
    rank: int = 0
    unavailable: dict[str, str] = field(default_factory=dict)
    """Backends that could not start (name: why): they get nothing."""
    owns_status: bool = True
    """Whether this process sends the run's statuses (rank 0)."""
    _feeder: Feeder | None = None

    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        *,
        sink: RunSink,
        info: RunInfo | None = None,
        backends: Sequence[PluginSpec] | None = None,
        collectors: Sequence[PluginSpec] | None = None,
        frameworks: Sequence[PluginSpec] | None = None,
        processors: Sequence[PluginSpec] | None = None,
        settings: FerrotrackSettings | None = None,
        manager: PluginManager | None = None,
    ) -> PluginSession:
        """Creates and starts the plugins (``None``: the settings' choice).

        Names get their config from the settings; instances are used as configured. Unknown
        names, missing dependencies and invalid configs raise here, before the run logs
        anything; a plugin whose own ``initialize`` or ``start`` fails is set aside with a
        warning (a backend then gets nothing and shows as ``unavailable``). Collected and
        captured metrics go to ``sink`` (the run), hence into the store. Backends start
        first, frameworks last.
        """
        from ferrotrack.core.settings import FerrotrackSettings, RouteRule

        settings = settings or FerrotrackSettings()
        manager = manager or PluginManager()
        run_dir = Path(run_dir)
        info = info or run_info(run_dir, rank=int(getattr(sink, "rank", 0)))

        def make(kind: PluginType, specs: Sequence[PluginSpec]) -> list[Any]:
            return [
                plugin
                for spec in specs
                if (plugin := manager.add(spec, kind, _config(settings, str(kind), spec)))
            ]

        def to_run(metrics: list[MetricData]) -> None:
            dispatch_metrics(sink, metrics)

        wanted = make(PluginType.BACKEND, settings.backends if backends is None else backends)
        named = getattr(settings, "processors", []) if processors is None else processors
        # configured instances are cloned per rank and not managed
        chain = [p for p in named if isinstance(p, ProcessorPlugin) and p.state != "created"]
        chain += make(PluginType.PROCESSOR, [p for p in named if p not in chain])
        gathered = []
        for plugin in make(
            PluginType.COLLECTOR, settings.collectors if collectors is None else collectors
        ):
            collector = as_collector(plugin)  # seed 002's plain plugins with collect()
            if collector is not plugin:
                manager.replace(plugin, collector)
            collector.bind(to_run)
            gathered.append(collector)
        named = getattr(settings, "frameworks", []) if frameworks is None else frameworks
        captured = make(PluginType.FRAMEWORK, named)
        for framework in captured:
            bind = getattr(framework, "bind", None)
            if callable(bind):  # else it emits to the active run: this one
                bind(to_run)
            set_experiment = getattr(framework, "set_experiment", None)
            if callable(set_experiment):  # seed 002's frameworks emit through it
                set_experiment(ActiveRunEmitter())
        rank = 0 if info.rank is None else info.rank
        session = cls(manager, None, gathered, captured, rank, owns_status=rank == 0)
        try:
            started = manager.start_all()  # backends first, frameworks last
        except BaseException:
            session.close("failed", timeout=0.0)
            raise
        routes = []
        for backend in wanted:
            if backend in started:
                rule = settings.routing.get(backend.name, RouteRule())
                routes.append(Route(backend, rule.include, rule.exclude, chain))
            else:
                reason = manager.status().get(backend.name, {}).get("error", "did not start")
                session.unavailable[backend.name] = str(reason)
        if routes:
            session.orchestrator = Orchestrator(
                routes,
                run_dir=run_dir,
                options=delivery_options(settings),
                redact=settings.redact,
                info=info,
                ranks={rank},
            )
            session.orchestrator.start()
            if session.owns_status:
                session.orchestrator.set_status("running")
        return session

    # ---- what the run sends (user's thread, never blocking) ---------------------------

    def attach(self, writer: MetricWriter) -> None:
        """Feeds the writer's flushed batches to the backends, from a thread of its own."""
        if self.orchestrator is not None and self._feeder is None:
            self._feeder = Feeder(writer, self, self.rank)

    def submit(self, rank: int, first_row: int, batch: pa.RecordBatch) -> None:
        """Hands a flushed batch to the orchestrator (the :class:`BatchSink` protocol)."""
        if self.orchestrator is not None:
            self.orchestrator.submit(rank, first_row, batch)

    def log_params(self, params: Mapping[str, Any], rows: int | None = None) -> None:
        """Forwards params logged by this process (a delta), after its first ``rows`` points."""
        if self.orchestrator is not None and params:
            self.orchestrator.log_params(params, rank=self.rank, rows=rows)

    def set_tags(self, tags: Mapping[str, str | None], rows: int | None = None) -> None:
        """Forwards tags set by this process (a delta; ``None`` deletes a tag), after its
        first ``rows`` points."""
        if self.orchestrator is not None and tags:
            self.orchestrator.set_tags(tags, rank=self.rank, rows=rows)

    def log_artifact(
        self, path: str | Path, name: str | None = None, rows: int | None = None
    ) -> None:
        """Forwards an artifact (the run's copy), after this process's first ``rows`` points."""
        if self.orchestrator is not None:
            self.orchestrator.log_artifact(path, name, rank=self.rank, rows=rows)

    def log_event(self, event: RunEvent) -> None:
        """Forwards a run event, after the ``event.rows`` points of its rank."""
        if self.orchestrator is not None:
            self.orchestrator.log_event(event)

    # ---- ending ------------------------------------------------------------------------

    def stop_sources(self) -> None:
        """Stops collectors (their threads) and frameworks (their patches restored): call
        before closing the run's writer. Idempotent."""
        for plugin in [*self.frameworks, *self.collectors]:
            try:
                plugin.stop()
            except Exception:  # stopping must go on; manager.stop_all warns later
                continue

    def close(self, status: str, *, timeout: float | None = None) -> None:
        """Call after the writer is closed and the final status is in the store: delivers
        the remaining points, then ``status`` (rank 0), flushes backends (at most
        ``timeout`` seconds, default the settings' ``drain_timeout``), then stops every
        plugin in reverse start order."""
        try:
            self.stop_sources()
            if self._feeder is not None:
                self._feeder.drain()
                self._feeder = None
            if self.orchestrator is not None:
                final = status if self.owns_status else None
                self.orchestrator.close(timeout, status=final)
        finally:
            self.manager.stop_all()

    def status(self) -> dict[str, Any]:
        """Plugin states and, per backend, delivery state (ok / lagging / degraded /
        unavailable), cursor and counters."""
        backends = self.orchestrator.status() if self.orchestrator else {}
        for name, reason in self.unavailable.items():
            backends[name] = {"state": "unavailable", "last_error": reason}
        return {"plugins": self.manager.status(), "backends": backends}
