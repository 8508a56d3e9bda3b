"""Fans a run's data out to backends, one :class:`~ferrotrack.core.delivery.lane.Lane` each.

Input is a protocol, :class:`BatchSink`: ``submit(rank, first_row, batch)``, where
``first_row`` is the index of the batch's first point among all points of that rank; and
the non-point items (params, tags, artifacts, events, statuses), each placed after the
points its rank had logged when it happened. Every point reaches a backend at most once
per cursor position, so re-submitted, overlapping or replayed batches never duplicate
points; gaps (dropped batches) are filled from the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from ferrotrack.core.delivery.budget import Budget
from ferrotrack.core.delivery.lane import END, Lane, LaneOptions, Route, _Batch
from ferrotrack.core.delivery.source import store_ranks, store_rows
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.backend import BackendPlugin
from ferrotrack.core.records import RunEvent, RunInfo

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.settings import FerrotrackSettings

__all__ = [
    "BatchSink",
    "Orchestrator",
    "OrchestratorOptions",
    "Route",
    "delivery_options",
    "run_info",
]

OrchestratorOptions = LaneOptions
"""The knobs of delivery (one set for every lane of an orchestrator)."""


def delivery_options(settings: FerrotrackSettings) -> LaneOptions:
    """The settings' ``orchestrator`` table as lane options. ``quiet_after`` unset: two
    flush intervals (a producer logging steadily hands over a batch every interval)."""
    table = settings.orchestrator.model_dump()
    if table.get("quiet_after") is None:
        table["quiet_after"] = max(0.5, 2.0 * settings.flush_interval)
    return LaneOptions(**table)


class BatchSink(Protocol):
    """Anything batches of points can be handed to (the orchestrator, a test double)."""

    def submit(self, rank: int, first_row: int, batch: pa.RecordBatch) -> None:
        """Takes the points ``first_row .. first_row + len(batch)`` of ``rank``."""


def run_info(run_dir: Path | None, *, rank: int | None = None) -> RunInfo:
    """A :class:`RunInfo` read from a run folder's ``run.json`` and ``params.json``."""
    from ferrotrack.core.store.jsonfile import read_json

    if run_dir is None:
        return RunInfo(experiment="", run_id="", name="", run_dir=Path(), started=0, rank=rank)
    meta = read_json(run_dir / "run.json")
    run_id = str(meta.get("run_id") or run_dir.name.removeprefix("run="))
    return RunInfo(
        experiment=str(meta.get("experiment") or run_dir.parent.name.removeprefix("experiment=")),
        run_id=run_id,
        name=str(meta.get("name") or run_id[-8:]),
        run_dir=run_dir,
        started=int(meta.get("started") or 0),
        status=str(meta.get("status") or "running"),
        parent=meta.get("parent"),
        tags={str(k): str(v) for k, v in (meta.get("tags") or {}).items()},
        params=read_json(run_dir / "params.json"),
        rank=rank,
    )


class Orchestrator:
    """Fans a run out to backends, each on its own worker thread.

    >>> orch = Orchestrator([Route(backend, include=["train/*"])], run_dir=run)  # doctest: +SKIP
    >>> orch.start(); orch.submit(0, 0, batch); orch.close()                      # doctest: +SKIP

    ``submit`` only queues (it never waits for a backend). A backend whose queue passes
    ``max_pending_rows`` is marked ``lagging``, its queue dropped, and it catches up from the
    store (``run_dir``) at its own pace; one that fails ``max_failures`` times in a row is
    marked ``degraded`` and skipped, its cursor saying where ``ferrotrack sync`` resumes.
    ``ranks`` are the ranks this process delivers (a live process: its own); ``None``: every
    rank submitted or in the store.

    While the producer logs, the lanes together spend at most ``delivery_share`` of wall
    time delivering (``budget``: default the process's, shared by every orchestrator with
    the same options); they catch up at full speed when it goes quiet and at ``close``.
    """

    def __init__(
        self,
        routes: Sequence[Route | BackendPlugin],
        *,
        run_dir: str | Path | None = None,
        options: OrchestratorOptions | None = None,
        redact: Callable[[str], str] | None = None,
        info: RunInfo | None = None,
        ranks: Collection[int] | None = None,
        budget: Budget | None = None,
    ) -> None:
        resolved = [r if isinstance(r, Route) else Route(r) for r in routes]
        labels = [r.label for r in resolved]
        if len(set(labels)) != len(labels):
            raise InvalidArgumentError(f"two routes share a backend name: {labels}; name them")
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.options = options or OrchestratorOptions()
        self.ranks = frozenset(ranks) if ranks is not None else None
        self.info = info or run_info(self.run_dir, rank=None)
        self._lanes = [
            Lane(
                r,
                self.run_dir,
                self.options,
                info=self.info,
                redact=redact or (lambda s: s),
                budget=budget,
            )
            for r in resolved
        ]
        self._final: str | None = None
        self._started = False
        self._closed = False

    @property
    def lanes(self) -> list[Lane]:
        """One lane per backend, in route order."""
        return list(self._lanes)

    def start(self) -> None:
        """Starts one worker thread per backend (each opens its backend first)."""
        if not self._started:
            self._started = True
            for lane in self._lanes:
                lane.start()

    def submit(self, rank: int, first_row: int, batch: pa.RecordBatch) -> None:
        """Queues points ``first_row ..`` of ``rank`` for every backend; never blocks on one."""
        if rank < 0 or first_row < 0:
            raise InvalidArgumentError(
                f"submit: rank and first_row must be >= 0, got {rank}, {first_row}"
            )
        if self._closed or batch.num_rows == 0:
            return
        if self.ranks is not None and rank not in self.ranks:
            return
        item = _Batch(rank, first_row, batch)
        for lane in self._lanes:
            lane.submit(item)

    def _call(
        self, method: str, *args: Any, needs: Mapping[int, int] | None, record: dict[str, Any]
    ) -> None:
        for lane in self._lanes:
            lane.call(method, *args, needs=needs, delivered=record)

    @staticmethod
    def _needs(rank: int, rows: int | None) -> dict[int, int] | None:
        return None if rows is None else {rank: rows}

    def log_params(
        self, params: Mapping[str, Any], *, rank: int = 0, rows: int | None = None
    ) -> None:
        """Sends params (a delta) after ``rows`` points of ``rank`` (default: every point
        submitted so far)."""
        delta = dict(params)
        self._call("log_params", delta, needs=self._needs(rank, rows), record={"params": delta})

    def set_tags(
        self, tags: Mapping[str, str | None], *, rank: int = 0, rows: int | None = None
    ) -> None:
        """Sends tags (a delta; ``None`` deletes a tag) after ``rows`` points of ``rank``."""
        delta = {str(k): None if v is None else str(v) for k, v in tags.items()}
        self._call("set_tags", delta, needs=self._needs(rank, rows), record={"tags": delta})

    def log_artifact(
        self, path: str | Path, name: str | None = None, *, rank: int = 0, rows: int | None = None
    ) -> None:
        """Sends an artifact after ``rows`` points of ``rank``."""
        label = name if name is not None else Path(path).name
        self._call(
            "log_artifact",
            Path(path),
            name,
            needs=self._needs(rank, rows),
            record={"artifacts": [label]},
        )

    def log_event(self, event: RunEvent) -> None:
        """Sends a run event after the ``event.rows`` points its rank had logged."""
        self._call("log_event", event, needs={event.rank: event.rows}, record={})

    def set_status(self, status: str, *, final: bool = False) -> None:
        """Sends the run status after every point submitted so far; with ``final``, after
        every point the store will hold (it is then sent by :meth:`close`, last)."""
        if final:
            self._final = status
            return
        self._call("set_status", status, needs=None, record={"status": status})

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Waits until every backend has nothing it can do now; ``False`` on timeout."""
        end = time.monotonic() + timeout
        return all(lane.wait_idle(max(0.0, end - time.monotonic())) for lane in self._lanes)

    def close(self, timeout: float | None = None, *, status: str | None = None) -> None:
        """Delivers what is queued, then everything else the store holds of this process's
        ranks, then ``status`` (the final one, after the last point), within ``timeout``
        seconds (default ``drain_timeout``); flushes backends and stops threads. Close the
        run's writer first, so the store is complete."""
        if self._closed:
            return
        self._closed = True
        status = status or self._final
        wait = self.options.drain_timeout if timeout is None else timeout
        end = time.monotonic() + wait
        totals = self._store_totals()
        for lane in self._lanes:
            lane.expect(totals)
            if status is not None:
                lane.call("set_status", status, needs=totals, delivered={"status": status})
        if not self._started:
            self.start()
        for lane in self._lanes:
            lane.close(max(0.0, end - time.monotonic()))

    def _store_totals(self) -> dict[int, int]:
        """Points per rank in the store, so points whose batch never came are sent too."""
        if self.run_dir is None:
            return {}
        ranks = self.ranks if self.ranks is not None else store_ranks(self.run_dir)
        totals = {}
        for rank in ranks:
            rows = store_rows(self.run_dir, rank)
            totals[rank] = END if rows is None else rows  # unknown: read to the end
        return totals

    def status(self) -> dict[str, dict[str, Any]]:
        """Per backend: state (ok / lagging / degraded), cursor, counters, last error."""
        return {lane.name: lane.status() for lane in self._lanes}

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
