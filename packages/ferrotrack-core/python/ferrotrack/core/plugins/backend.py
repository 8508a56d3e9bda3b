"""Backends: sinks that mirror a run's points, params, artifacts and status elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.arrow import batch_to_metrics
from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.metric import MetricData

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BackendPlugin"]


class BackendPlugin(PluginBase):
    """A sink fed by the orchestrator on its own worker thread, never on the logging path.

    A simple backend overrides :meth:`handle_metric` only; a fast one overrides
    :meth:`handle_batch` and works on whole Arrow batches. A call that raises is retried
    with the same points (with exponential backoff), so a backend that can fail halfway
    through a batch should write idempotently or all-or-nothing.
    """

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """Receives a batch of points (store schema); calls :meth:`handle_metric` per point."""
        source = self.name
        for metric in batch_to_metrics(batch, source=source):
            self.handle_metric(metric)

    def handle_metric(self, metric: MetricData) -> None:
        """Receives one point; override this or :meth:`handle_batch`."""
        raise NotImplementedError(
            f"backend {self.name!r} must override handle_metric or handle_batch"
        )

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Receives the run's parameters (nested as logged)."""

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """Receives a file logged with ``log_artifact``."""

    def set_status(self, status: str) -> None:
        """Receives the run's status: running, finished, failed or killed."""

    def flush(self) -> None:
        """Pushes out anything buffered; called when the orchestrator drains."""
