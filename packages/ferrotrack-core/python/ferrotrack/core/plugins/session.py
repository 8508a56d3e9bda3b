"""The plugins of one run: what ``start_run(backends=..., collectors=...)`` drives.

>>> session = PluginSession.open(run_dir, sink=run, backends=["mlflow"],   # doctest: +SKIP
...                              collectors=["system"])
>>> session.submit(0, 0, batch)          # from the flush thread, after each flush  # doctest: +SKIP
>>> session.stop_sources(); writer.close(); session.close("finished")     # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.orchestrator import Orchestrator, OrchestratorOptions, Route
from ferrotrack.core.plugins.backend import BackendPlugin
from ferrotrack.core.plugins.collector import CollectorPlugin, RunSink, dispatch_metrics
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.manager import PluginManager, PluginSpec
from ferrotrack.core.plugins.metric import MetricData
from ferrotrack.core.plugins.processor import ProcessorPlugin
from ferrotrack.core.settings import FerrotrackSettings, RouteRule

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["PluginSession"]


@dataclass
class PluginSession:
    """A run's manager, orchestrator and collectors, created and stopped in the right order."""

    manager: PluginManager
    orchestrator: Orchestrator | None
    collectors: list[CollectorPlugin] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        run_dir: str | Path,
        *,
        sink: RunSink,
        backends: Sequence[PluginSpec] | None = None,
        collectors: Sequence[PluginSpec] | None = None,
        processors: Sequence[ProcessorPlugin] = (),
        settings: FerrotrackSettings | None = None,
        manager: PluginManager | None = None,
    ) -> PluginSession:
        """Creates and starts the plugins (``None``: the settings' defaults).

        Names get their config from the settings; instances are used as configured. Unknown
        names, missing dependencies and invalid configs raise here, before the run logs
        anything; a plugin whose own ``initialize`` or ``start`` fails is set aside with a
        warning. Collected metrics go to ``sink`` (the run), hence into the store.
        """
        settings = settings or FerrotrackSettings()
        manager = manager or PluginManager()
        routes: list[Route] = []
        for spec in settings.backends if backends is None else backends:
            config = settings.plugin_config("backend", spec) if isinstance(spec, str) else None
            backend = manager.add(spec, PluginType.BACKEND, config)
            if isinstance(backend, BackendPlugin):
                rule = settings.routing.get(backend.name, RouteRule())
                routes.append(Route(backend, rule.include, rule.exclude, processors))
        gathered: list[CollectorPlugin] = []

        def to_run(metrics: list[MetricData]) -> None:
            dispatch_metrics(sink, metrics)

        for spec in settings.collectors if collectors is None else collectors:
            config = settings.plugin_config("collector", spec) if isinstance(spec, str) else None
            collector = manager.add(spec, PluginType.COLLECTOR, config)
            if isinstance(collector, CollectorPlugin):
                collector.bind(to_run)
                gathered.append(collector)
        orchestrator = None
        if routes:
            options = OrchestratorOptions(**settings.orchestrator.model_dump())
            orchestrator = Orchestrator(
                routes, run_dir=run_dir, options=options, redact=settings.redact
            )
            orchestrator.start()
        session = cls(manager, orchestrator, gathered)
        try:
            manager.start_all()  # backends first, collectors after them
        except BaseException:
            session.close("failed", timeout=0.0)
            raise
        return session

    def submit(self, rank: int, first_row: int, batch: pa.RecordBatch) -> None:
        """Hands a flushed batch to the orchestrator (the :class:`BatchSink` protocol)."""
        if self.orchestrator is not None:
            self.orchestrator.submit(rank, first_row, batch)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Forwards the run's params to the backends."""
        if self.orchestrator is not None:
            self.orchestrator.log_params(params)

    def stop_sources(self) -> None:
        """Stops collectors (and their threads): call before closing the run's writer."""
        for collector in self.collectors:
            try:
                collector.stop()
            except Exception:  # stopping must go on; manager.stop_all warns later
                continue

    def close(self, status: str, *, timeout: float | None = None) -> None:
        """Sends the final status, drains the orchestrator (after the writer closed, so the
        store is complete), then stops every plugin in reverse start order."""
        try:
            self.stop_sources()
            if self.orchestrator is not None:
                self.orchestrator.set_status(status)
                self.orchestrator.close(timeout)
        finally:
            self.manager.stop_all()

    def status(self) -> dict[str, Any]:
        """Plugin states and, per backend, delivery state (ok / lagging / degraded)."""
        return {
            "plugins": self.manager.status(),
            "backends": self.orchestrator.status() if self.orchestrator else {},
        }
