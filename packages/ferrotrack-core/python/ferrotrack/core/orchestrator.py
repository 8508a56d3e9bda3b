"""Routes batches of points from the store's flushes to backends, off the logging path.

Input is a protocol, :class:`BatchSink`: ``submit(rank, first_row, batch)``, where
``first_row`` is the index of the batch's first point among all points of that rank. Each
backend gets a :class:`_Lane`: its own worker thread, a bounded queue, a delivery cursor
``{rank: rows_delivered}`` persisted in ``<run>/sync/<backend>.json``. Every point is
delivered to a backend at most once per cursor position, so re-submitted, overlapping or
replayed batches never duplicate points; gaps (dropped batches) are filled from the store.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.arrow import filter_names
from ferrotrack.core.plugins.backend import BackendPlugin
from ferrotrack.core.plugins.cursor import DeliveryCursor, read_rank, store_ranks, store_rows
from ferrotrack.core.plugins.processor import ProcessorPlugin

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BatchSink", "Orchestrator", "OrchestratorOptions", "Route"]

_log = logging.getLogger("ferrotrack.orchestrator")


class BatchSink(Protocol):
    """Anything batches of points can be handed to (the orchestrator, a test double)."""

    def submit(self, rank: int, first_row: int, batch: pa.RecordBatch) -> None:
        """Takes the points ``first_row .. first_row + len(batch)`` of ``rank``."""


@dataclass(frozen=True)
class OrchestratorOptions:
    """Knobs of delivery; the defaults suit a training run."""

    max_pending_rows: int = 1_000_000
    """Points queued per backend before it is marked lagging (it then catches up from the store)."""
    max_batch_rows: int = 65_536
    """Small batches are coalesced into batches of up to this many points."""
    max_failures: int = 5
    """Consecutive failures after which a backend is marked degraded and skipped."""
    backoff_initial: float = 0.1
    backoff_max: float = 30.0
    drain_timeout: float = 30.0
    """Seconds :meth:`Orchestrator.close` waits for backends to catch up."""
    catch_up_retry: float = 0.5
    """Seconds between attempts to read points the store does not show yet."""


@dataclass
class Route:
    """A backend and what it gets: names matching ``include`` and not ``exclude`` (globs),
    then transformed by ``processors`` (cloned per rank)."""

    backend: BackendPlugin
    include: Sequence[str] = ("*",)
    exclude: Sequence[str] = ()
    processors: Sequence[ProcessorPlugin] = ()
    name: str | None = None

    @property
    def label(self) -> str:
        """The route's name: ``name`` or the backend's plugin name."""
        return self.name or self.backend.name


@dataclass
class _Batch:
    rank: int
    first_row: int
    batch: pa.RecordBatch

    @property
    def end(self) -> int:
        return self.first_row + int(self.batch.num_rows)


@dataclass
class _Call:
    method: str
    args: tuple[Any, ...]


@dataclass
class _Prepared:
    """Raw rows ``start..end`` of ``rank``, routed and processed once, kept for retries."""

    rank: int
    start: int
    end: int
    out: pa.RecordBatch


@dataclass
class _Pull:
    """Read rows of ``rank`` from the store, from the cursor."""

    rank: int


_Work = _Call | _Prepared | list[_Batch] | _Pull


@dataclass
class _Counters:
    rows_delivered: int = 0
    points_sent: int = 0
    rows_dropped: int = 0
    rows_skipped: int = 0
    failures_total: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _Lane:
    """Delivery to one backend, on its own thread."""

    def __init__(
        self,
        route: Route,
        run_dir: Path | None,
        options: OrchestratorOptions,
        redact: Callable[[str], str],
    ) -> None:
        self.route = route
        self.name = route.label
        self.run_dir = run_dir
        self.opt = options
        self.redact = redact
        self.cond = threading.Condition()
        self.pending: deque[_Batch | _Call] = deque()
        self.pending_rows = 0
        self.file = DeliveryCursor(run_dir, self.name) if run_dir is not None else None
        self.cursor, self.extra = self.file.load() if self.file is not None else ({}, {})
        self.high = dict(self.cursor)
        self.state = "ok"
        self.failures = 0
        self.next_attempt = 0.0
        self.pull_after = 0.0
        self.last_error: str | None = None
        self.inflight: _Prepared | None = None
        self.count = _Counters()
        self.chains: dict[int, list[ProcessorPlugin]] = {}
        self.store: tuple[int, pa.Table] | None = None
        self.closing = False
        self.deadline = math.inf
        self.busy = False
        self.thread: threading.Thread | None = None

    # ---- producer side (any thread, short critical sections) --------------------------

    def submit(self, item: _Batch) -> None:
        with self.cond:
            if self.state == "degraded":
                return
            self.high[item.rank] = max(self.high.get(item.rank, 0), item.end)
            if item.end <= self.cursor.get(item.rank, 0):
                return
            rows = item.batch.num_rows
            if self.pending_rows + rows > self.opt.max_pending_rows:
                self._drop_batches_locked(rows)
            else:
                self.pending.append(item)
                self.pending_rows += rows
            self.cond.notify()

    def call(self, method: str, *args: Any) -> None:
        with self.cond:
            if self.state != "degraded":
                self.pending.append(_Call(method, args))
                self.cond.notify()

    def _drop_batches_locked(self, extra_rows: int) -> None:
        kept = [i for i in self.pending if isinstance(i, _Call)]
        self.count.rows_dropped += self.pending_rows + extra_rows
        self.pending = deque(kept)
        self.pending_rows = 0
        if self.state == "ok":
            self.state = "lagging"
            _log.warning("backend %r is lagging; it will catch up from the store", self.name)

    # ---- worker side ---------------------------------------------------------------

    def run(self) -> None:
        while (work := self._take()) is not None:
            try:
                self._execute(work)
            finally:
                with self.cond:
                    self.busy = False
                    self.cond.notify_all()
        self._finish()

    def _take(self) -> _Work | None:
        """The next unit of work, waiting for one; ``None`` when closed and done."""
        with self.cond:
            while True:
                if self.closing and time.monotonic() > self.deadline:
                    return None
                work = self._next_locked()
                if work is not None:
                    self.busy = True
                    return work
                if self.closing and self._idle_locked():
                    return None
                self.cond.wait(self._wait_locked())

    def _wait_locked(self) -> float:
        now = time.monotonic()
        wake = [self.next_attempt, self.pull_after, self.deadline]
        due = [t - now for t in wake if t > now and t != math.inf]
        return max(0.001, min(due)) if due else 0.5

    def _idle_locked(self) -> bool:
        """Nothing can be done now (and, when closing, nothing will be)."""
        if self.state == "degraded":
            return True
        if self.pending or self.inflight is not None:
            return False
        return not self._behind_locked() or self.pull_after > time.monotonic()

    def _behind_locked(self) -> list[int]:
        if self.run_dir is None:
            return []
        return [r for r, n in self.high.items() if n > self.cursor.get(r, 0)]

    def _next_locked(self) -> _Work | None:
        now = time.monotonic()
        if self.state == "degraded" or now < self.next_attempt:
            return None
        if self.inflight is not None:
            return self.inflight
        while self.pending:
            head = self.pending[0]
            if isinstance(head, _Call):
                return head
            cur = self.cursor.get(head.rank, 0)
            if head.end <= cur:
                self._pop_locked()
                continue
            if head.first_row > cur:
                if self.run_dir is None:
                    self.count.rows_skipped += head.first_row - cur
                    self.cursor[head.rank] = head.first_row
                    continue
                return _Pull(head.rank) if now >= self.pull_after else None
            return self._coalesce_locked(cur)
        behind = self._behind_locked()
        if behind and now >= self.pull_after:
            return _Pull(behind[0])
        return None

    def _coalesce_locked(self, cur: int) -> list[_Batch]:
        head = self.pending[0]
        assert isinstance(head, _Batch)
        taken = [_Batch(head.rank, cur, head.batch.slice(cur - head.first_row))]
        rows, end = taken[0].batch.num_rows, head.end
        for item in list(self.pending)[1:]:
            if not isinstance(item, _Batch) or item.rank != head.rank or item.first_row != end:
                break
            if rows + item.batch.num_rows > self.opt.max_batch_rows:
                break
            taken.append(item)
            rows += item.batch.num_rows
            end = item.end
        return taken

    def _pop_locked(self) -> None:
        item = self.pending.popleft()
        if isinstance(item, _Batch):
            self.pending_rows -= item.batch.num_rows

    def _execute(self, work: _Work) -> None:
        try:
            if isinstance(work, _Call):
                getattr(self.route.backend, work.method)(*work.args)
                with self.cond:
                    if self.pending and self.pending[0] is work:
                        self._pop_locked()
                    self.failures = 0
                return
            if isinstance(work, _Pull):
                prepared = self._pull(work.rank)
                if prepared is None:
                    return
            elif isinstance(work, list):
                prepared = self._prepare(work[0].rank, work[0].first_row, [b.batch for b in work])
            else:
                prepared = work
            if prepared.out.num_rows:
                self.route.backend.handle_batch(prepared.out)
        except Exception as exc:
            self._fail(exc)
            return
        self._delivered(prepared)

    def _pull(self, rank: int) -> _Prepared | None:
        assert self.run_dir is not None
        cur = self.cursor.get(rank, 0)
        if self.store is None or self.store[0] != rank or self.store[1].num_rows <= cur:
            self.store = (rank, read_rank(self.run_dir, rank))
        table = self.store[1]
        if table.num_rows <= cur:
            self.store = None
            with self.cond:
                if self.closing:
                    self.high[rank] = cur  # the store has no more: stop waiting for it
                else:
                    self.pull_after = time.monotonic() + self.opt.catch_up_retry
            return None
        chunk = table.slice(cur, self.opt.max_batch_rows)
        with self.cond:
            self.high[rank] = max(self.high.get(rank, 0), table.num_rows)
        return self._prepare(rank, cur, chunk.to_batches())

    def _prepare(self, rank: int, start: int, batches: list[pa.RecordBatch]) -> _Prepared:
        import pyarrow as pa

        if len(batches) == 1:
            raw = batches[0]
        else:
            table = pa.Table.from_batches(batches).unify_dictionaries().combine_chunks()
            raw = table.to_batches()[0] if table.num_rows else batches[0].slice(0, 0)
        out = filter_names(raw, self.route.include, self.route.exclude)
        chain = self.chains.get(rank)
        if chain is None:
            chain = self.chains[rank] = [p.clone() for p in self.route.processors]
        for processor in chain:
            out = processor.process(out)
        self.inflight = _Prepared(rank, start, start + raw.num_rows, out)
        return self.inflight

    def _delivered(self, done: _Prepared) -> None:
        with self.cond:
            self.inflight = None
            self.failures = 0
            self.cursor[done.rank] = max(self.cursor.get(done.rank, 0), done.end)
            self.count.rows_delivered += done.end - done.start
            self.count.points_sent += done.out.num_rows
            while self.pending:
                head = self.pending[0]
                if not isinstance(head, _Batch) or head.end > self.cursor.get(head.rank, 0):
                    break
                self._pop_locked()
            if self.state == "lagging" and not self._behind_locked():
                self.state = "ok"
            snapshot = dict(self.cursor)
        self._save(snapshot)

    def _save(self, cursor: dict[int, int]) -> None:
        if self.file is None:
            return
        try:
            self.file.save(cursor, self.extra)
        except OSError as exc:
            _log.warning("could not save the cursor of backend %r: %s", self.name, exc)

    def _fail(self, exc: BaseException) -> None:
        message = self.redact(f"{type(exc).__name__}: {exc}")
        with self.cond:
            self.failures += 1
            self.count.failures_total += 1
            self.last_error = message
            if self.failures >= self.opt.max_failures:
                self.state = "degraded"
                self.inflight = None
                self.count.rows_dropped += self.pending_rows
                self.pending.clear()
                self.pending_rows = 0
                _log.warning(
                    "backend %r is degraded after %d failures (%s); the store keeps every "
                    "point: `ferrotrack sync RUN --backend %s` fills it later",
                    self.name,
                    self.failures,
                    message,
                    self.name,
                )
                return
            delay = min(self.opt.backoff_initial * 2 ** (self.failures - 1), self.opt.backoff_max)
            self.next_attempt = time.monotonic() + delay
        _log.info("backend %r failed (%s); retry in %.2fs", self.name, message, delay)

    def _finish(self) -> None:
        """On the worker thread, at the end: last flush of the backend."""
        if self.state == "degraded":
            return
        try:
            self.route.backend.flush()
        except Exception as exc:
            self.last_error = self.redact(f"{type(exc).__name__}: {exc}")
            _log.warning("backend %r failed to flush: %s", self.name, self.last_error)

    # ---- control ---------------------------------------------------------------------

    def start(self) -> None:
        self.thread = threading.Thread(
            target=self.run, name=f"ferrotrack-backend-{self.name}", daemon=True
        )
        self.thread.start()

    def wait_idle(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        with self.cond:
            while self.busy or not self._idle_locked():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.05))
        return True

    def expect(self, totals: Mapping[int, int]) -> None:
        """The store holds ``totals[rank]`` points: deliver up to there before closing."""
        with self.cond:
            for rank, total in totals.items():
                if self.state != "degraded":
                    self.high[rank] = max(self.high.get(rank, 0), total)
            self.cond.notify_all()

    def close(self, timeout: float) -> None:
        with self.cond:
            self.closing = True
            self.deadline = time.monotonic() + timeout
            self.pull_after = 0.0
            self.cond.notify_all()
        if self.thread is not None:
            self.thread.join(timeout + 5.0)

    def status(self) -> dict[str, Any]:
        with self.cond:
            return {
                "state": self.state,
                "cursor": dict(self.cursor),
                "pending_rows": self.pending_rows,
                "behind": {r: self.high[r] - self.cursor.get(r, 0) for r in self._behind_locked()},
                "consecutive_failures": self.failures,
                "failures": self.count.failures_total,
                "rows_delivered": self.count.rows_delivered,
                "points_sent": self.count.points_sent,
                "rows_dropped_from_memory": self.count.rows_dropped,
                "rows_skipped": self.count.rows_skipped,
                "last_error": self.last_error,
            }


class Orchestrator:
    """Fans batches out to backends, each on its own worker thread.

    >>> orch = Orchestrator([Route(backend, include=["train/*"])], run_dir=run)  # doctest: +SKIP
    >>> orch.start(); orch.submit(0, 0, batch); orch.close()                      # doctest: +SKIP

    ``submit`` only queues (it never waits for a backend). A backend whose queue passes
    ``max_pending_rows`` is marked ``lagging``, its queue dropped, and it catches up from the
    store (``run_dir``) at its own pace; one that fails ``max_failures`` times in a row is
    marked ``degraded`` and skipped, its cursor saying where ``ferrotrack sync`` resumes.
    """

    def __init__(
        self,
        routes: Sequence[Route | BackendPlugin],
        *,
        run_dir: str | Path | None = None,
        options: OrchestratorOptions | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        resolved = [r if isinstance(r, Route) else Route(r) for r in routes]
        labels = [r.label for r in resolved]
        if len(set(labels)) != len(labels):
            raise InvalidArgumentError(f"two routes share a backend name: {labels}; name them")
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.options = options or OrchestratorOptions()
        self._lanes = [
            _Lane(r, self.run_dir, self.options, redact or (lambda s: s)) for r in resolved
        ]
        self._started = False
        self._closed = False

    def start(self) -> None:
        """Starts one worker thread per backend."""
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
        item = _Batch(rank, first_row, batch)
        for lane in self._lanes:
            lane.submit(item)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Sends parameters to every backend (in order with the points)."""
        for lane in self._lanes:
            lane.call("log_params", dict(params))

    def set_status(self, status: str) -> None:
        """Sends the run status to every backend."""
        for lane in self._lanes:
            lane.call("set_status", status)

    def log_artifact(self, path: str | Path, name: str | None = None) -> None:
        """Sends an artifact to every backend."""
        for lane in self._lanes:
            lane.call("log_artifact", Path(path), name)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Waits until every backend has nothing it can do now; ``False`` on timeout."""
        end = time.monotonic() + timeout
        return all(lane.wait_idle(max(0.0, end - time.monotonic())) for lane in self._lanes)

    def close(self, timeout: float | None = None) -> None:
        """Delivers what is queued, then everything else the store holds (at most ``timeout``
        seconds, default ``drain_timeout``), flushes backends, stops threads. Close the
        run's writer first, so the store is complete."""
        if self._closed:
            return
        self._closed = True
        wait = self.options.drain_timeout if timeout is None else timeout
        if not self._started:
            self.start()
        end = time.monotonic() + wait
        totals = self._store_totals()
        for lane in self._lanes:
            lane.expect(totals)
        for lane in self._lanes:
            lane.close(max(0.0, end - time.monotonic()))

    def _store_totals(self) -> dict[int, int]:
        """Points per rank in the store, so points whose batch never came are sent too."""
        if self.run_dir is None:
            return {}
        totals = {}
        for rank in store_ranks(self.run_dir):
            rows = store_rows(self.run_dir, rank)
            totals[rank] = 2**62 if rows is None else rows  # unknown: read to the end
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
