"""Backends: sinks that mirror a run (identity, status, points, params, tags, artifacts,
events) elsewhere, fed by delivery on a thread of their own, never on the logging path.

The contract, per backend and per delivering process (a *lane*), in this order:

1. ``open_run(info, state)``: who the run is (:class:`~ferrotrack.core.records.RunInfo`)
   and ``state``, the dict the backend kept last time (``{}`` the first time). Mutate it
   (``state["mlflow_run_id"] = ...``): it is saved beside the cursor after ``open_run`` and
   after each delivery, and given back on resume and on ``ferrotrack sync``;
2. ``set_status("running")``;
3. in the order they happened: points (:meth:`handle_points`), params
   (:meth:`log_params`, deltas), tags (:meth:`set_tags`, deltas), artifacts
   (:meth:`log_artifact`) and events (:meth:`log_event`); a non-point item comes after
   exactly the points its rank had logged when it happened;
4. the final ``set_status(...)``, after the last point;
5. ``flush()``.

Statuses are sent by the lane of the process that owns the run's status (rank 0, or
``sync``); other ranks' lanes get the rest. Raise
:class:`~ferrotrack.core.errors.PermanentBackendError` for an item the backend will never
take (a rejected value): it is skipped and counted (``rejected``), the mirror goes on. Any
other exception is transient: the same item is retried with backoff, and after
``max_failures`` in a row the backend is marked degraded (``ferrotrack sync`` fills it
later). A retried call gets the same data, so write idempotently or all-or-nothing.

Exactly once across failures that leave the outcome unknown (a server killed after it
committed, a process killed before its cursor was saved) needs the remote side's word:
a backend that can store, in the same transaction as the points, how far each rank got
overrides :meth:`handle_rows` (which says which store rows a batch covers) and
:meth:`remote_rows` (read once after ``open_run``; delivery starts each rank there).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.arrow import batch_to_metrics
from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.metric import MetricData

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["BackendPlugin"]


class BackendPlugin(PluginBase):
    """A sink fed by delivery on its own worker thread (see the module for the order).

    A simple backend overrides :meth:`handle_metric` only; a fast one overrides
    :meth:`handle_batch` (or :meth:`handle_points`, which also says the rank) and works on
    whole Arrow batches. Every other method has a default that does nothing.
    """

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Receives the run's identity and facts, and the state saved last time (mutable).

        A backend that does not override this gets ``info.params`` and ``info.tags``
        through :meth:`log_params` and :meth:`set_tags` instead, only the part it was never
        sent. One that overrides it takes them from ``info`` (on a resume or a ``sync``
        they are the whole params and tags again: log what the remote side lacks).
        """

    def remote_rows(self) -> Mapping[int, int]:
        """Rows per rank the remote side holds for sure, read right after :meth:`open_run`.

        Delivery starts a rank there when that is past its own cursor (the cursor file is
        saved after the remote commit, so a kill between the two leaves it behind). Only a
        backend that records ``end`` of :meth:`handle_rows` atomically with the points
        should answer; the default, ``{}``, trusts the cursor.
        """
        return {}

    def handle_rows(self, batch: pa.RecordBatch, rank: int, start: int, end: int) -> None:
        """Receives the points of store rows ``start..end`` of ``rank``; calls
        :meth:`handle_points`.

        ``batch`` has fewer than ``end - start`` rows when the backend's route filters
        names. A retry after an unknown outcome comes with the same ``start`` and ``end``:
        a backend that recorded ``end`` with the points can tell it already has them.
        """
        self.handle_points(batch, rank)

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """Receives consecutive points of ``rank`` (store schema); calls :meth:`handle_batch`."""
        self.handle_batch(batch)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """Receives a batch of points; calls :meth:`handle_metric` per point."""
        source = self.name
        for metric in batch_to_metrics(batch, source=source):
            self.handle_metric(metric)

    def handle_metric(self, metric: MetricData) -> None:
        """Receives one point; override this, :meth:`handle_batch` or :meth:`handle_points`."""
        raise NotImplementedError(
            f"backend {self.name!r} must override handle_metric, handle_batch or handle_points"
        )

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Receives params logged since the last call (a delta, nested as logged); the
        whole params at opening are in ``info.params``.

        A backend that declares the ``parameters`` capability but only overrides
        :meth:`handle_metric` (seed 002's) gets each param there, dotted, as a PARAMETER
        metric; any other backend ignores them unless it overrides this method.
        """
        if "parameters" not in self.get_metadata().capabilities:
            return
        if type(self).handle_metric is BackendPlugin.handle_metric:
            return
        from ferrotrack.core.params import flatten
        from ferrotrack.core.plugins.metric import MetricData, MetricType

        for name, value in flatten(params).items():
            self.handle_metric(MetricData(name, value, MetricType.PARAMETER, source=self.name))

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """Receives tags set since the last call (a delta; ``None``: the tag was deleted);
        the first ones are in ``info.tags``."""

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """Receives a file or folder logged with ``log_artifact`` (``path`` is the run's copy)."""

    def log_event(self, event: RunEvent) -> None:
        """Receives one run event (a level starting or ending, a checkpoint, a message)."""

    def set_status(self, status: str) -> None:
        """Receives the run's status: ``running``, then finished, failed or killed."""

    def flush(self) -> None:
        """Pushes out anything buffered; called once a lane has delivered all it will."""
