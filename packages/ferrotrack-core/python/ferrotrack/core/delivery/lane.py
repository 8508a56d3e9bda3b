"""One lane: delivery to one backend, in order, at its own pace, resuming from its cursor.

A lane takes two streams: batches of points per rank (``submit``), and non-point items
(``call``: open, status, params, tags, artifacts, events) in the order they happened, each
saying how many points of which ranks must be delivered before it (``needs``). The lane
delivers points up to the next item's needs, then the item, and so on. Points missing from
memory (a dropped queue, a batch that never came, a resumed run) are read from the store in
ranges of at most ``max_batch_rows`` (:func:`~ferrotrack.core.delivery.source.read_points`).
The same lane runs on its own thread (live) or on the caller's (:func:`replay`).

Live, while the run's producer is logging, the lane's items are paid from the process's
:class:`~ferrotrack.core.delivery.budget.Budget` (a share of wall time for all lanes) and
kept small enough to fit it; closing, draining and replaying go at full speed.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.delivery.budget import Budget, shared_budget
from ferrotrack.core.delivery.cursor import DeliveryCursor, RankPosition, missing, missing_tags
from ferrotrack.core.delivery.source import read_points
from ferrotrack.core.errors import PermanentBackendError
from ferrotrack.core.plugins.arrow import filter_names
from ferrotrack.core.plugins.backend import BackendPlugin
from ferrotrack.core.plugins.processor import ProcessorPlugin

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.records import RunInfo

__all__ = ["END", "Lane", "LaneOptions", "Route"]

_log = logging.getLogger("ferrotrack.delivery")

END = 2**62
"""A ``needs`` or ``expect`` count meaning "every point the store holds for the rank"."""


@dataclass(frozen=True)
class LaneOptions:
    """Knobs of delivery; the defaults suit a training run."""

    max_pending_rows: int = 1_000_000
    """Points queued per backend before it is marked lagging (it then catches up from the store)."""
    max_batch_rows: int = 65_536
    """Small batches are coalesced, and store reads made, in batches of up to this many points."""
    max_failures: int = 5
    """Consecutive failures after which a backend is marked degraded and skipped."""
    backoff_initial: float = 0.1
    backoff_max: float = 30.0
    drain_timeout: float = 30.0
    """Seconds a close waits for backends to catch up."""
    catch_up_retry: float = 0.5
    """Seconds between attempts to read points the store does not show yet."""
    delivery_share: float = 0.05
    """Share of wall time the lanes of a process together spend delivering while a
    producer logs (1: no limit); see :mod:`~ferrotrack.core.delivery.budget`."""
    quiet_after: float = 2.0
    """Seconds without a new batch after which the producer counts as quiet (then lanes
    deliver at full speed)."""
    budget_window: float = 1.0
    """The budget's bucket holds ``delivery_share × budget_window`` seconds: the longest
    burst of delivery while the producer is hot."""


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
    """A non-point item: ``backend.<method>(*args)`` once ``needs`` points are delivered."""

    method: str
    args: tuple[Any, ...]
    needs: dict[int, int] = field(default_factory=dict)
    delivered: dict[str, Any] = field(default_factory=dict)
    """What to record in ``state.json`` once done (so ``sync`` does not send it again)."""


@dataclass
class _Prepared:
    """Raw rows ``start..end`` of ``rank``, routed and processed once, kept for retries."""

    rank: int
    start: int
    end: int
    out: pa.RecordBatch


@dataclass
class _Pull:
    """Read at most ``rows`` rows of ``rank`` from the store, from the cursor, up to ``cap``."""

    rank: int
    cap: int
    rows: int


_Work = _Call | _Prepared | list[_Batch] | _Pull


@dataclass
class _Counters:
    rows_delivered: int = 0
    points_sent: int = 0
    rows_dropped: int = 0
    rows_skipped: int = 0
    failures_total: int = 0
    rejected: int = 0
    busy_seconds: float = 0.0
    charged_seconds: float = 0.0
    throttled: int = 0


class Lane:
    """Delivery to one backend (see the module). Producer methods never wait on it."""

    def __init__(
        self,
        route: Route,
        run_dir: Path | None,
        options: LaneOptions,
        *,
        info: RunInfo,
        redact: Callable[[str], str] = lambda s: s,
        budget: Budget | None = None,
    ) -> None:
        self.route = route
        self.name = route.label
        self.rank = info.rank
        """The rank this lane delivers (a live process's), ``None`` for ``sync``."""
        self.run_dir = run_dir
        self.opt = options
        self.redact = redact
        self.cond = threading.Condition()
        self.batches: dict[int, deque[_Batch]] = {}
        self.calls: deque[_Call] = deque()
        self.pending_rows = 0
        self.file = DeliveryCursor(run_dir, self.name) if run_dir is not None else None
        self.rows: dict[int, int] = {}
        self.events: dict[int, int] = {}
        self.high: dict[int, int] = {}
        self.exhausted: set[int] = set()
        self.state = "ok"
        self.failures = 0
        self.next_attempt = 0.0
        self.pull_after = 0.0
        self.last_error: str | None = None
        self.inflight: _Prepared | None = None
        self.count = _Counters()
        self.chains: dict[int, list[ProcessorPlugin]] = {}
        self.closing = False
        self.deadline = math.inf
        self.busy = False
        self.budget = budget or shared_budget(options.delivery_share, options.budget_window)
        self.urgent = 0
        """Callers in :meth:`wait_idle`: while any waits, the budget does not apply."""
        self._charged = False
        self._rate = (0.0, 0.0)
        """Decaying sums (raw rows, seconds) of point items: the lane's pace."""
        self.thread: threading.Thread | None = None
        self.backend_state: dict[str, Any] = {}
        self._saved_state: dict[str, Any] = {}
        self._warned_rejected = False
        if self.file is not None:
            for rank, pos in self.file.ranks().items():
                self.rows[rank], self.events[rank] = pos.rows, pos.events
        self.calls.append(_Call("open_run", (info,)))

    # ---- producer side (any thread, short critical sections) --------------------------

    def position(self, rank: int) -> RankPosition:
        """Where ``rank`` stands: points and events delivered."""
        with self.cond:
            return RankPosition(self.rows.get(rank, 0), self.events.get(rank, 0))

    def delivered(self) -> dict[str, Any]:
        """What ``state.json`` says was delivered of the run (params, tags, artifacts, status)."""
        return self.file.load_shared().delivered if self.file is not None else {}

    def submit(self, item: _Batch) -> None:
        """Queues a batch of points; past ``max_pending_rows`` the queue is dropped (the
        lane then reads those points from the store), never the non-point items."""
        self.budget.note_producer(time.monotonic())
        with self.cond:
            if self.state == "degraded":
                return
            self.high[item.rank] = max(self.high.get(item.rank, 0), item.end)
            if item.end <= self.rows.get(item.rank, 0):
                return
            rows = item.batch.num_rows
            if self.pending_rows + rows > self.opt.max_pending_rows:
                self.count.rows_dropped += self.pending_rows + rows
                self.batches.clear()
                self.pending_rows = 0
                if self.state == "ok":
                    self.state = "lagging"
                    if not self._full_speed_locked():  # under delivery_share: by design
                        _log.info(
                            "backend %r is behind the run while it logs (delivery_share); "
                            "it catches up from the store",
                            self.name,
                        )
                    else:
                        _log.warning(
                            "backend %r is lagging; it will catch up from the store", self.name
                        )
            else:
                self.batches.setdefault(item.rank, deque()).append(item)
                self.pending_rows += rows
            self.cond.notify()

    def call(
        self,
        method: str,
        *args: Any,
        needs: Mapping[int, int] | None = None,
        delivered: Mapping[str, Any] | None = None,
    ) -> None:
        """Queues ``backend.<method>(*args)`` after ``needs`` points (default: every point
        submitted so far); ``delivered`` is recorded in ``state.json`` once it is done."""
        with self.cond:
            if self.state == "degraded":
                return
            wants = dict(self.high) if needs is None else dict(needs)
            for rank, rows in wants.items():
                if rows < END:
                    self.high[rank] = max(self.high.get(rank, 0), rows)
            self.calls.append(_Call(method, args, wants, dict(delivered or {})))
            self.cond.notify()

    def expect(self, totals: Mapping[int, int]) -> None:
        """The store holds ``totals[rank]`` points (``END``: read to its end): deliver them."""
        with self.cond:
            for rank, total in totals.items():
                self.high[rank] = max(self.high.get(rank, 0), total)
            self.cond.notify_all()

    # ---- worker side ---------------------------------------------------------------

    def run(self) -> None:
        """Delivers until closed and done (or past the deadline), then flushes the backend."""
        self._loop()
        self.finish()

    def _loop(self) -> None:
        while (work := self._take()) is not None:
            started = time.monotonic()
            try:
                self._execute(work)
            finally:
                ended = time.monotonic()
                took = ended - started
                if self._charged:
                    self.budget.charge(took, ended)
                with self.cond:
                    self.busy = False
                    self.count.busy_seconds += took
                    if self._charged:
                        self.count.charged_seconds += took
                    self.cond.notify_all()

    def drain(self, timeout: float) -> None:
        """On the caller's thread: delivers everything it can, waiting for nothing new
        (the store's end is the end), within ``timeout`` seconds; does not flush."""
        with self.cond:
            self.closing = True
            self.deadline = time.monotonic() + timeout
            self.pull_after = 0.0
        self._loop()

    def _take(self) -> _Work | None:
        with self.cond:
            while True:
                now = time.monotonic()
                if self.closing and now > self.deadline:
                    return None
                work = self._next_locked()
                if work is not None:
                    wait, self._charged = self._admit_locked(now)
                    if wait > 0.0 and isinstance(work, _Call) and work.method == "open_run":
                        # Opening never waits for the budget, and is paid for (a wait means
                        # a hot producer): the remote run must exist for the others to find
                        # it (a child's mirror reads its parent's remote id).
                        wait, self._charged = 0.0, True
                    if wait <= 0.0:
                        self.busy = True
                        return work
                    self.count.throttled += 1
                    self.cond.wait(max(0.001, wait))
                    continue
                if self.closing and self._idle_locked():
                    return None
                self.cond.wait(self._wait_locked())

    def _full_speed_locked(self) -> bool:
        """Closing (drain, sync) or someone waiting for the lane: the budget is lifted."""
        return self.closing or self.urgent > 0 or self.budget.unlimited

    def _admit_locked(self, now: float) -> tuple[float, bool]:
        """The budget's word on starting an item now: ``(seconds to wait, charged)``."""
        if self._full_speed_locked():
            return 0.0, False
        return self.budget.admit(now, self.opt.quiet_after)

    def _item_rows_locked(self, now: float) -> int:
        """Most raw rows in one item: ``max_batch_rows``, or while the producer is hot, what
        the lane delivers in about one bucket of the budget (at least 256 rows)."""
        most = self.opt.max_batch_rows
        if self._full_speed_locked() or not self.budget.hot(now, self.opt.quiet_after):
            return most
        rows, seconds = self._rate
        if rows <= 0.0 or seconds <= 0.0:
            return min(most, 256)
        return max(1, min(most, max(256, int(rows / seconds * self.budget.capacity))))

    def _note_pace(self, rows: int, seconds: float) -> None:
        old_rows, old_seconds = self._rate
        self._rate = (old_rows * 0.5 + rows, old_seconds * 0.5 + seconds)

    def _wait_locked(self) -> float:
        now = time.monotonic()
        wake = [self.next_attempt, self.pull_after, self.deadline]
        due = [t - now for t in wake if t > now and t != math.inf]
        return max(0.001, min(due)) if due else 0.5

    def _idle_locked(self) -> bool:
        """Nothing can be done now (and, when closing, nothing will be)."""
        if self.state == "degraded":
            return True
        if self.calls or self.pending_rows or self.inflight is not None:
            return False
        if not (self.closing or self.state == "lagging"):
            return True  # what it lacks comes with the next flushed batch
        return not self._behind_locked() or self.pull_after > time.monotonic()

    def _behind_locked(self) -> list[int]:
        return [
            r
            for r, n in sorted(self.high.items())
            if n > self.rows.get(r, 0) and r not in self.exhausted
        ]

    def _waiting_on(self, call: _Call) -> list[int]:
        return [
            r
            for r, n in sorted(call.needs.items())
            if self.rows.get(r, 0) < n and r not in self.exhausted
        ]

    def _next_locked(self) -> _Work | None:
        now = time.monotonic()
        if self.state == "degraded" or now < self.next_attempt:
            return None
        if self.inflight is not None:
            return self.inflight
        if self.calls:
            head = self.calls[0]
            waiting = self._waiting_on(head)
            if not waiting:
                return head
            return self._points_locked(waiting[0], head.needs[waiting[0]], now)
        for rank in sorted(set(self.batches) | set(self._behind_locked())):
            work = self._points_locked(rank, END, now)
            if work is not None:
                return work
        return None

    def _points_locked(self, rank: int, cap: int, now: float) -> _Work | None:
        """The next points of ``rank`` (up to row ``cap``): from memory, else the store."""
        cur = self.rows.get(rank, 0)
        queue = self.batches.get(rank)
        while queue and queue[0].end <= cur:
            self.pending_rows -= queue.popleft().batch.num_rows
        limit = self._item_rows_locked(now)
        if queue and queue[0].first_row <= cur:
            return self._coalesce_locked(queue, cur, cap, limit)
        if self.run_dir is None:
            if queue:  # a gap nobody can fill: skip it
                self.count.rows_skipped += queue[0].first_row - cur
                self.rows[rank] = queue[0].first_row
                return self._coalesce_locked(queue, queue[0].first_row, cap, limit)
            if self.closing:
                self.exhausted.add(rank)
            return None
        if self.high.get(rank, 0) <= cur:
            if self.closing:
                self.exhausted.add(rank)
            return None
        # Read the store only for points that will not come in memory: a gap before the
        # next queued batch, a dropped queue (lagging), or the end (closing). Otherwise the
        # next flushed batch brings them.
        gap = queue is not None and bool(queue) and queue[0].first_row > cur
        if not (gap or self.closing or self.state == "lagging"):
            return None
        return _Pull(rank, cap, limit) if now >= self.pull_after else None

    def _coalesce_locked(
        self, queue: deque[_Batch], cur: int, cap: int, limit: int
    ) -> list[_Batch] | None:
        """Queued points from ``cur``, up to row ``cap`` and ``limit`` rows in all: small
        batches are joined, a big one is cut."""
        taken: list[_Batch] = []
        rows, end = 0, cur
        for item in queue:
            if item.first_row > end or end >= cap or rows >= limit:
                break
            part = item.batch.slice(
                end - item.first_row, min(item.end, cap, end + limit - rows) - end
            )
            taken.append(_Batch(item.rank, end, part))
            rows += part.num_rows
            end += part.num_rows
        return taken or None

    def _execute(self, work: _Work) -> None:
        if isinstance(work, _Call):
            self._execute_call(work)
            return
        prepared: _Prepared | None = None
        started = time.monotonic()
        try:
            if isinstance(work, _Pull):
                prepared = self._pull(work.rank, work.cap, work.rows)
            elif isinstance(work, list):
                prepared = self._prepare(work[0].rank, work[0].first_row, [b.batch for b in work])
            else:
                prepared = work
            if prepared is None:
                return
            if prepared.out.num_rows:
                self.route.backend.handle_rows(
                    prepared.out, prepared.rank, prepared.start, prepared.end
                )
            self._note_pace(prepared.end - prepared.start, time.monotonic() - started)
        except PermanentBackendError as exc:
            if prepared is None:
                self._fail(exc)
                return
            self._rejected(exc, int(prepared.out.num_rows))
        except Exception as exc:
            self._fail(exc)
            return
        self._points_done(prepared)

    def _execute_call(self, call: _Call) -> None:
        backend = self.route.backend
        try:
            if call.method == "open_run":
                self._open(call.args[0])
            else:
                getattr(backend, call.method)(*call.args)
        except PermanentBackendError as exc:
            if call.method == "open_run":
                self._degrade(self.redact(f"{type(exc).__name__}: {exc}"))
                return
            self._rejected(exc, 1)
        except Exception as exc:
            self._fail(exc)
            return
        with self.cond:
            if self.calls and self.calls[0] is call:
                self.calls.popleft()
            self.failures = 0
            moved: tuple[int, RankPosition] | None = None
            if call.method == "log_event":
                rank = int(call.args[0].rank)
                self.events[rank] = max(self.events.get(rank, 0), int(call.args[0].seq) + 1)
                moved = rank, RankPosition(self.rows.get(rank, 0), self.events[rank])
        if moved is not None:
            self._save_rank(*moved)
        if call.delivered or self._state_changed():
            self._save_shared(call.delivered)

    def _open(self, info: RunInfo) -> None:
        """``open_run`` under the backend's lock in this run, so two processes opening at
        once see each other's state (one remote run, not two)."""
        backend = self.route.backend
        own = type(backend).open_run is not BackendPlugin.open_run
        sent: dict[str, Any] = {}
        if self.file is None:
            if own:
                backend.open_run(info, self.backend_state)
        else:
            with self.file.locked():
                shared = self.file.load_shared()
                self.backend_state, sent = shared.state, shared.delivered
                self._saved_state = copy.deepcopy(self.backend_state)
                if own:
                    try:
                        backend.open_run(info, self.backend_state)
                    finally:
                        # Saved before the lock goes, even when open_run failed after
                        # creating its remote run: the next opening (a rank, a retry)
                        # finds that run instead of making a second one.
                        self._save_shared({}, held=True)
        tags = missing_tags(info.tags, sent.get("tags", {}))
        if own:  # it has info.tags; it learns of tags deleted since it last saw them
            tags = {k: v for k, v in tags.items() if v is None}
        else:  # it learns the params and tags it lacks through its own methods
            params = missing(info.params, sent.get("params", {}))
            if params:
                backend.log_params(params)
        if tags:
            backend.set_tags(tags)
        self._save_shared({"params": info.params, "tags": {**info.tags, **tags}})
        self._skip_what_remote_has(backend.remote_rows())

    def _skip_what_remote_has(self, remote: Mapping[int, int]) -> None:
        """Starts each rank where the backend says its remote side already is, when that
        is past the cursor (a kill came between the remote commit and the cursor save).

        Only in memory: a rank's cursor file is written by the process that delivers the
        rank, when it next delivers points of it (a lane may hear of ranks it does not own).
        """
        with self.cond:
            for rank, rows in remote.items():
                if int(rows) > self.rows.get(rank, 0):
                    self.rows[rank] = int(rows)
                    self.high[rank] = max(self.high.get(rank, 0), int(rows))
            self.cond.notify_all()

    def _pull(self, rank: int, cap: int, rows: int) -> _Prepared | None:
        assert self.run_dir is not None
        cur = self.rows.get(rank, 0)
        limit = min(rows, cap - cur)
        table = read_points(self.run_dir, rank, cur, limit)
        if table.num_rows == 0:
            with self.cond:
                if self.closing:
                    self.exhausted.add(rank)  # the store has no more: stop waiting for it
                else:
                    self.pull_after = time.monotonic() + self.opt.catch_up_retry
            return None
        with self.cond:
            self.high[rank] = max(self.high.get(rank, 0), cur + table.num_rows)
        return self._prepare(rank, cur, table.to_batches())

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

    def _points_done(self, done: _Prepared) -> None:
        with self.cond:
            self.inflight = None
            self.failures = 0
            rank = done.rank
            self.rows[rank] = max(self.rows.get(rank, 0), done.end)
            self.count.rows_delivered += done.end - done.start
            self.count.points_sent += done.out.num_rows
            queue = self.batches.get(rank)
            while queue and queue[0].end <= self.rows[rank]:
                self.pending_rows -= queue.popleft().batch.num_rows
            if self.state == "lagging" and not self._behind_locked():
                self.state = "ok"
            position = RankPosition(self.rows[rank], self.events.get(rank, 0))
        self._save_rank(rank, position)
        if self._state_changed():
            self._save_shared({})

    def _state_changed(self) -> bool:
        return self.file is not None and self.backend_state != self._saved_state

    def _save_rank(self, rank: int, position: RankPosition) -> None:
        if self.file is None:
            return
        try:
            self.file.save_rank(rank, position)
        except OSError as exc:
            _log.warning("could not save the cursor of backend %r: %s", self.name, exc)

    def _save_shared(self, delivered: Mapping[str, Any], *, held: bool = False) -> None:
        if self.file is None:
            return
        now = copy.deepcopy(self.backend_state)
        removed = frozenset(self._saved_state) - frozenset(now)
        changed = {k: v for k, v in now.items() if self._saved_state.get(k, object()) != v}
        try:
            self.file.update_shared(changed, removed=removed, delivered=delivered, held=held)
        except (OSError, TypeError, ValueError) as exc:
            _log.warning("could not save the state of backend %r: %s", self.name, exc)
            return
        self._saved_state = now

    def _rejected(self, exc: PermanentBackendError, items: int) -> None:
        message = self.redact(f"{type(exc).__name__}: {exc}")
        with self.cond:
            self.count.rejected += items
            self.last_error = message
            first, self._warned_rejected = not self._warned_rejected, True
        if first:
            _log.warning(
                "backend %r rejected data (%s); it is skipped, the store keeps it "
                "(later rejections are logged at debug level)",
                self.name,
                message,
            )
        else:
            _log.debug("backend %r rejected data: %s", self.name, message)

    def _fail(self, exc: BaseException) -> None:
        message = self.redact(f"{type(exc).__name__}: {exc}")
        with self.cond:
            self.failures += 1
            self.count.failures_total += 1
            self.last_error = message
            if self.failures < self.opt.max_failures:
                delay = min(
                    self.opt.backoff_initial * 2 ** (self.failures - 1), self.opt.backoff_max
                )
                self.next_attempt = time.monotonic() + delay
                _log.info("backend %r failed (%s); retry in %.2fs", self.name, message, delay)
                return
        self._degrade(message)

    def _degrade(self, message: str) -> None:
        with self.cond:
            self.state = "degraded"
            self.last_error = message
            self.inflight = None
            self.count.rows_dropped += self.pending_rows
            self.batches.clear()
            self.calls.clear()
            self.pending_rows = 0
        self._save_health("degraded", message)
        why = f"after {self.failures} failures" if self.failures else "(refused at opening)"
        run = self.run_dir.name.removeprefix("run=") if self.run_dir is not None else "RUN"
        _log.warning(
            "backend %r is degraded %s: %s; the store keeps every point: "
            "`ferrotrack sync %s --backend %s` fills it later",
            self.name,
            why,
            message,
            run,
            self.name,
        )

    def finish(self) -> None:
        """At the end, on the lane's thread: last flush of the backend, last state."""
        if self.state == "degraded":
            return
        try:
            self.route.backend.flush()
        except Exception as exc:
            self.last_error = self.redact(f"{type(exc).__name__}: {exc}")
            _log.warning("backend %r failed to flush: %s", self.name, self.last_error)
        self._save_health("ok", None)

    def _save_health(self, state: str, error: str | None) -> None:
        """Records the lane's verdict in ``state.json`` (``delivered["health"]``), where
        ``ferrotrack runs show`` reads it from another process. A live lane writes its own
        rank's entry (another rank's clean end does not hide it); ``sync`` (every rank it
        could lock) replaces them all: ``degraded`` stays until one of them ends well."""
        verdict = {"state": state, "error": error, "at": time.time_ns()}
        key = "*" if self.rank is None else f"rank-{self.rank}"
        self._save_shared({"health": {key: verdict}})

    # ---- control ---------------------------------------------------------------------

    def start(self) -> None:
        """Runs the lane on a thread of its own."""
        self.thread = threading.Thread(
            target=self.run, name=f"ferrotrack-backend-{self.name}", daemon=True
        )
        self.thread.start()

    def wait_idle(self, timeout: float) -> bool:
        """Waits until the lane has nothing it can do now; ``False`` on timeout."""
        end = time.monotonic() + timeout
        with self.cond:
            self.urgent += 1  # a caller waits for the mirror: the budget is lifted meanwhile
            self.cond.notify_all()
            try:
                while self.busy or not self._idle_locked():
                    left = end - time.monotonic()
                    if left <= 0:
                        return False
                    self.cond.wait(min(left, 0.05))
            finally:
                self.urgent -= 1
        return True

    def close(self, timeout: float) -> None:
        """Delivers what it can within ``timeout`` seconds, flushes, ends the thread (or,
        never started, runs on the caller's thread)."""
        with self.cond:
            self.closing = True
            self.deadline = time.monotonic() + timeout
            self.pull_after = 0.0
            self.cond.notify_all()
        if self.thread is None:
            self.run()
        else:
            self.thread.join(timeout + 5.0)

    def status(self) -> dict[str, Any]:
        """State (ok / lagging / degraded), cursor, counters, last error; ``busy_seconds``
        (time spent on items), ``budget_seconds`` (the part paid from the budget, while the
        producer was hot) and ``throttled`` (waits for the budget)."""
        with self.cond:
            return {
                "state": self.state,
                "cursor": dict(self.rows),
                "events": dict(self.events),
                "pending_rows": self.pending_rows,
                "pending_items": len(self.calls),
                "behind": {r: self.high[r] - self.rows.get(r, 0) for r in self._behind_locked()},
                "consecutive_failures": self.failures,
                "failures": self.count.failures_total,
                "rejected": self.count.rejected,
                "rows_delivered": self.count.rows_delivered,
                "points_sent": self.count.points_sent,
                "rows_dropped_from_memory": self.count.rows_dropped,
                "rows_skipped": self.count.rows_skipped,
                "last_error": self.last_error,
                "busy_seconds": self.count.busy_seconds,
                "budget_seconds": self.count.charged_seconds,
                "throttled": self.count.throttled,
            }
