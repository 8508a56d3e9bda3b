"""The runs table: one JSON-ready row per run, kept per store and refreshed run by run.

Reading 10,000 runs' ``run.json``, ``params.json`` and summaries costs most of a second;
two stats per run cost a tenth of that. So an index per store keeps each run's entry with
the stamp of its folder, and re-reads only the runs whose files changed since the last
call, in one batch through core's native readers (files and summaries read on every core).
Each entry remembers the generation at which it last changed, which is the cursor of
``since``; its JSON row is built only when a page shows it.

The first build reads the runs newest first, in chunks it publishes as it goes (500 runs,
then four times more each time): a page asked for while it runs can be answered from the
runs read so far (``partial``) instead of waiting for the whole store, so the newest runs
show at once however large the store is.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferrotrack.core.errors import StoreCorruptError
from ferrotrack.core.store.catalog import RunRef, effective_status, iter_run_refs
from ferrotrack.core.store.jsonfile import parse_json_object
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.ui.data._json import finite, iso, jsonable
from ferrotrack.ui.errors import NotFound

__all__ = [
    "FIRST_ANSWER_WAIT_S",
    "RunsIndex",
    "RunsQuery",
    "Snapshot",
    "index_for",
    "list_experiments",
    "row_of",
    "runs_page",
]

STATS = ("last", "min", "max", "count", "last_step")
_SORTS = ("start", "end", "duration", "name", "status", "experiment", "run_id")
FIRST_CHUNK = 500
"""Runs the first build reads before it first publishes (a page holds at most 500)."""
FIRST_ANSWER_WAIT_S = 0.25
"""How long the server's runs page waits for the first build before answering from the
runs read so far."""


@dataclass(frozen=True)
class RunsQuery:
    """What the runs table asks for: filters, a sort, a page (and ``since``, a cursor of an
    earlier answer, to get only the rows that changed after it)."""

    experiment: str | None = None
    status: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    q: str | None = None
    params: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    metrics: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)
    sort: str = "start"
    desc: bool = True
    offset: int = 0
    limit: int = 100
    since: str | None = None


class _Entry:
    """One run of the index: what filters and sorts read, and its row, built when a page
    first shows it (ISO times and the row dict for 10,000 runs cost more than the rest of
    reading them)."""

    __slots__ = ("_row", "_text", "ended", "error", "gen", "meta", "metrics", "name",
                 "params", "ref", "stamp", "started", "status", "tags")  # fmt: skip

    def __init__(  # noqa: PLR0917 (built in one place, from one run's files)
        self,
        ref: RunRef,
        stamp: tuple[int, ...],
        gen: int,
        meta: Mapping[str, Any],
        params: dict[str, Any],
        metrics: dict[str, dict[str, Any]],
        problem: str | None = None,
    ) -> None:
        self.ref, self.stamp, self.gen, self.meta = ref, stamp, gen, meta
        self.params, self.metrics = params, metrics
        started, ended = meta.get("started"), meta.get("ended")
        self.started = started if type(started) is int else None
        self.ended = ended if type(ended) is int else None
        self.status = effective_status(meta)
        tags = meta.get("tags")
        self.tags = {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}
        self.name = str(meta.get("name") or ref.run_id[-8:])
        error = meta.get("error")
        message = None
        if isinstance(error, dict):
            message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
        self.error = message if problem is None else problem
        self._row: dict[str, Any] | None = None
        self._text: str | None = None

    @property
    def row(self) -> dict[str, Any]:
        """The JSON-ready row (the contract's ``Row``)."""
        if self._row is None:
            duration = None
            if self.started is not None and self.ended is not None:
                duration = (self.ended - self.started) / 1e9
            self._row = {
                "run_id": self.ref.run_id,
                "experiment": self.ref.experiment,
                "name": self.name,
                "status": self.status,
                "start": iso(self.started),
                "end": iso(self.ended),
                "duration_s": duration,
                "tags": self.tags,
                "params": self.params,
                "metrics": self.metrics,
                "error": self.error,
            }
        return self._row

    @property
    def text(self) -> str:
        """What ``q`` searches: name, id, experiment, tags, in lower case."""
        if self._text is None:
            tags = (f"{k}:{v}" for k, v in self.tags.items())
            self._text = " ".join([self.name, self.ref.run_id, self.ref.experiment, *tags])
            self._text = self._text.lower()
        return self._text

    def set_status(self, status: str, gen: int) -> None:
        self.status, self.gen = status, gen
        if self._row is not None:
            self._row["status"] = status


@dataclass(frozen=True)
class Snapshot:
    """The index at one moment: its entries (newest run first), the cursor of exactly that
    state, and while the first build runs, ``(runs read, runs found)``."""

    entries: list[_Entry]
    cursor: str
    partial: tuple[int, int] | None = None


class RunsIndex:
    """The rows of every run of one store, refreshed on each call for what changed.

    Thread-safe: a refresh holds the index's lock, and requests that arrive while one
    runs share the next one (a refresh that started after they arrived sees all they
    must see) instead of each stat-ing every run again. The first build is the exception:
    it reads outside the lock, publishing each chunk, so a request may take what is read.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = resolve_root(root)
        self.token = secrets.token_hex(4)
        self._entries: dict[str, _Entry] = {}
        self._order: list[_Entry] = []
        self._removed: dict[str, int] = {}
        self._gen = 0
        self._lock = threading.Lock()
        self._published = threading.Condition(self._lock)
        self._last_start = -1.0
        self._built = False
        self._building = False
        self._found = 0

    @property
    def cursor(self) -> str:
        """The cursor of the index as it is now."""
        with self._lock:
            return f"{self.token}-{self._gen}"

    def refresh(self) -> list[_Entry]:
        """Re-reads the runs whose files changed; returns every entry, statuses current."""
        return self.snapshot().entries

    def snapshot(self, wait_s: float | None = None) -> Snapshot:
        """:meth:`refresh`, and the cursor of exactly that state (a later refresh by another
        request must not lend this answer a cursor past rows it does not hold).

        While the first build runs, waits for it; with ``wait_s``, at most that long (once
        a chunk is read), then answers with the runs read so far (``partial``). A call with
        ``wait_s`` that finds no build running starts one on a thread of its own, so that
        it can answer early too; one without builds in its own thread."""
        asked = time.monotonic()
        deadline = None if wait_s is None else asked + wait_s
        started: list[BaseException] | None = None  # the failure of a build this call began
        with self._lock:
            while True:
                while self._building:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0 and self._order:
                        return self._snap_locked((len(self._order), self._found))
                    self._published.wait(left if left is not None and left > 0 else None)
                if self._built:
                    if self._last_start < asked:
                        self._last_start = time.monotonic()
                        self._refresh_locked()
                    return self._snap_locked(None)
                if started:
                    raise started[0]
                self._building = True  # this call builds; the others wait or take chunks
                self._last_start = time.monotonic()
                if wait_s is None:
                    break
                started = []
                threading.Thread(target=self._build, args=(started,), daemon=True,
                                 name="ferrotrack-ui-index").start()  # fmt: skip
        self._build(None)
        with self._lock:
            return self._snap_locked(None)

    def _build(self, failures: list[BaseException] | None) -> None:
        """The first build, by a call that set ``_building``; its failure is raised, or
        handed over in ``failures`` when it runs on a thread of its own."""
        try:
            self._first_build()
        except BaseException as exc:
            if failures is None:
                raise
            failures.append(exc)
        finally:
            with self._lock:
                self._building = False
                self._published.notify_all()

    def entries_of(self, refs: Sequence[RunRef]) -> list[_Entry]:
        """The entries of these runs only, each read again if its files changed: a run's
        page neither waits for the store's first reading nor stats every run of it."""
        with self._lock:
            self._read_changed_locked(refs, raise_if_gone=True)
            entries = [self._entries[ref.folder] for ref in refs]
            self._refresh_statuses_locked(entries)
            return entries

    def _snap_locked(self, partial: tuple[int, int] | None) -> Snapshot:
        return Snapshot(list(self._order), f"{self.token}-{self._gen}", partial)

    def _first_build(self) -> None:
        """Reads every run, newest first, publishing each chunk as it is read."""
        refs = _newest_first(iter_run_refs(self.root))
        with self._lock:  # a build that failed half-way starts again from nothing
            self._found, self._order, self._entries = len(refs), [], {}
        start, size = 0, FIRST_CHUNK
        while start < len(refs):
            part = refs[start : start + size]
            entries = self._read([(ref, _stamp(ref.folder)) for ref in part], 0)
            with self._lock:
                self._gen += 1
                for e in entries:
                    e.gen = self._gen
                    self._entries[e.ref.folder] = e
                self._order.extend(entries)
                self._published.notify_all()
            start, size = start + size, size * 4
        with self._lock:
            self._refresh_statuses_locked(self._order)
            self._built = True

    def _read_changed_locked(self, refs: Sequence[RunRef], *, raise_if_gone: bool = False) -> None:
        """Reads again, at a new generation, the runs of ``refs`` whose files changed (two
        stats each). A folder gone meanwhile is read as empty, or with ``raise_if_gone``
        is a :class:`NotFound`."""
        changed = []
        for ref in refs:
            stamp = _stamp(ref.folder)
            if not stamp and raise_if_gone:
                raise NotFound(f"no run {ref.run_id!r} in this store")
            e = self._entries.get(ref.folder)
            if e is None or e.stamp != stamp:
                changed.append((ref, stamp))
        if changed:
            self._gen += 1
            for e in self._read(changed, self._gen):
                self._entries[e.ref.folder] = e

    def _refresh_locked(self) -> None:
        refs = _newest_first(iter_run_refs(self.root))
        self._read_changed_locked(refs)
        present = {r.folder for r in refs}
        for folder in [f for f in self._entries if f not in present]:
            self._gen += 1
            self._removed[self._entries.pop(folder).ref.run_id] = self._gen
        entries = [self._entries[r.folder] for r in refs]
        self._refresh_statuses_locked(entries)
        self._order = entries

    def _refresh_statuses_locked(self, entries: list[_Entry]) -> None:
        """A running run whose heartbeat stopped is crashed now, not when it was read."""
        now = time.time_ns()
        for e in entries:
            if e.meta.get("status") in (None, "running"):
                status = effective_status(e.meta, now_ns=now)
                if status != e.status:
                    self._gen += 1
                    e.set_status(status, self._gen)

    def _read(self, changed: list[tuple[RunRef, tuple[int, ...]]], gen: int) -> list[_Entry]:
        """The entries of ``changed`` runs read again (at generation ``gen``; an entry read
        again but unchanged keeps its own: it is not news for ``since``)."""
        from ferrotrack.core._native import read_files
        from ferrotrack.core.analysis.summaries import read_summaries

        refs = [r for r, _ in changed]
        racy = time.time_ns() - _RACY_NS
        metas = read_files([f"{r.folder}/run.json" for r in refs])
        params = read_files([f"{r.folder}/params.json" for r in refs])
        per_run = _metrics_of(read_summaries(refs, columns=list(STATS)),
                              len(refs))  # fmt: skip
        out = []
        for (ref, seen), meta_raw, params_raw, m in zip(
            changed, metas, params, per_run, strict=True
        ):
            problems: list[str] = []
            meta = _parse(meta_raw, ref, "run.json", problems)
            p = _parse(params_raw, ref, "params.json", problems)
            flat: dict[str, Any] = {}
            _flatten(p, "", flat)
            problem = "; ".join(problems) if problems else None
            # changed too recently to trust its time: read it again next time
            stamp = _RACY if seen and seen[0] > racy else seen
            old = self._entries.get(ref.folder)
            same = old is not None and (old.meta, old.params, old.metrics) == (meta, flat, m)
            out.append(_Entry(ref, stamp, old.gen if same and old else gen, meta, flat, m,
                              problem))  # fmt: skip
        return out

    def changed_since(self, cursor: str | None) -> tuple[int, list[str]] | None:
        """The generation a cursor of this index stands for and the runs removed after it;
        None when the cursor is of another index (a restarted server): everything is new."""
        if not cursor:
            return None
        token, _, gen = cursor.partition("-")
        if token != self.token or not gen.isdigit():
            return None
        g = int(gen)
        with self._lock:
            return g, sorted(run for run, at in self._removed.items() if at > g)


_DECODE = json.JSONDecoder().raw_decode


def _parse(data: bytes | None, ref: RunRef, name: str, problems: list[str]) -> dict[str, Any]:
    """A run's JSON file as a dict ({} when missing); a corrupt one is ``{}`` and a line in
    ``problems`` (one bad file must not take the whole table down). The decoder is called
    directly: ``json.loads``' own checks cost as much as parsing these small files."""
    if data is None:
        return {}
    try:
        text = data.decode()
        obj, end = _DECODE(text)
        if end != len(text) and text[end:].strip():
            raise ValueError("extra data")
    except ValueError:  # leading blanks, or not JSON: the full parser decides
        try:
            obj = parse_json_object(data, f"{ref.folder}/{name}")
        except StoreCorruptError:
            problems.append(f"{name} of this run is not a readable JSON object")
            return {}
    if not isinstance(obj, dict):
        problems.append(f"{name} of this run is not a JSON object")
        return {}
    return obj


def _flatten(params: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    """``flatten`` and ``jsonable`` in one pass: dotted keys, non-finite floats as None."""
    for k, v in params.items():
        key = prefix + str(k)
        t = type(v)
        if t is dict and v:
            _flatten(v, key + ".", out)
        elif t is float:
            out[key] = v if v - v == 0 else None  # NaN and infinities fail v - v == 0
        elif t is list or t is dict:
            out[key] = jsonable(v)
        else:
            out[key] = v


def _metrics_of(summary: Any, n: int) -> list[dict[str, dict[str, Any]]]:
    """Per run (by ``run_idx``), each metric's last/min/max/count/last_step."""
    per_run: list[dict[str, dict[str, Any]]] = [{} for _ in range(n)]
    if summary.height == 0:
        return per_run
    cols = [summary.get_column(c).to_list()
            for c in ("run_idx", "name", "last", "min", "max", "count", "last_step")]  # fmt: skip
    for idx, name, last, lo, hi, count, step in zip(*cols, strict=True):
        per_run[idx][name] = {"last": finite(last), "min": finite(lo), "max": finite(hi),
                              "count": count, "last_step": step}  # fmt: skip
    return per_run


_RACY_NS = 250_000_000
_RACY = (-1,)
"""The stamp of a run whose folder changed within ``_RACY_NS`` of being read: file times
tick coarsely (a jiffy, up to 10 ms, on ext4), so a change in the same tick as the read
would leave the time as it was and go unseen; such a run is read again until its time is
old enough."""


def _newest_first(refs: Iterable[RunRef]) -> list[RunRef]:
    """Runs by id, newest first (ids are UUIDv7: they sort by creation time), the order
    the first build reads them in and the order equal sort keys keep."""
    return sorted(refs, key=lambda r: r.run_id, reverse=True)


def _stamp(folder: str) -> tuple[int, ...]:
    """What changes when a row's files change: the run folder's mtime (every file of the
    store is replaced by a rename into it: run.json, params.json, summaries) and run.json's
    own (size, mtime), for a run.json edited in place. Two stats, no listing."""
    try:
        folder_st = os.stat(folder)
    except FileNotFoundError:
        return ()
    try:
        st = os.stat(f"{folder}/run.json")
    except FileNotFoundError:
        return (folder_st.st_mtime_ns,)
    return (folder_st.st_mtime_ns, st.st_size, st.st_mtime_ns)


def row_of(
    ref: RunRef,
    meta: Mapping[str, Any],
    params: Mapping[str, Any],
    metrics: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The JSON-ready row of one run (the contract's ``Row``)."""
    flat: dict[str, Any] = {}
    _flatten(params, "", flat)
    return _Entry(ref, (), 0, meta, flat, metrics).row


_INDEXES: dict[str, RunsIndex] = {}
_INDEXES_LOCK = threading.Lock()


def index_for(root: str | os.PathLike[str]) -> RunsIndex:
    """The one index of a store in this process."""
    key = str(resolve_root(root))
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = _INDEXES[key] = RunsIndex(key)
        return index


def list_experiments(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Every experiment with its count of runs, of running runs and of failed or crashed."""
    counts: dict[str, dict[str, Any]] = {}
    for e in index_for(root).refresh():
        exp = e.ref.experiment
        c = counts.get(exp)
        if c is None:
            c = counts[exp] = {"name": exp, "runs": 0, "running": 0, "failed": 0}
        c["runs"] += 1
        c["running"] += e.status == "running"
        c["failed"] += e.status in ("failed", "crashed")  # fmt: skip
    return {"experiments": [counts[k] for k in sorted(counts)]}


def _in_range(value: Any, bounds: tuple[float | None, float | None]) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    lo, hi = bounds
    if isinstance(value, float) and math.isnan(value):
        return False
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _matches(e: _Entry, query: RunsQuery, q: str | None) -> bool:
    if query.experiment is not None and e.ref.experiment != query.experiment:
        return False
    if query.status is not None and e.status != query.status:
        return False
    tags = e.tags
    if any(tags.get(k) != v for k, v in query.tags.items()):
        return False
    if q is not None and q not in e.text:
        return False
    params = e.params
    if any(not _in_range(params.get(k), b) for k, b in query.params.items()):
        return False
    metrics = e.metrics
    return all(_in_range(metrics.get(k, {}).get("last"), b) for k, b in query.metrics.items())


def _duration(e: _Entry) -> int | None:
    return None if e.started is None or e.ended is None else e.ended - e.started


_KEYS: dict[str, Any] = {
    "start": lambda e: e.started,
    "end": lambda e: e.ended,
    "duration": _duration,
    "name": lambda e: e.name,
    "status": lambda e: e.status,
    "experiment": lambda e: e.ref.experiment,
    "run_id": lambda e: e.ref.run_id,
}


def _sort_key(sort: str) -> Any:
    """The key of an entry for ``sort`` (None: the entry goes last, whatever the order)."""
    if sort in _KEYS:
        return _KEYS[sort]
    if sort.startswith("params."):
        key = sort[len("params.") :]
        return lambda e: _sortable(e.params.get(key))
    if sort.startswith("tags."):
        tag = sort[len("tags.") :]
        return lambda e: e.tags.get(tag)
    if sort.startswith("metrics."):
        name, stat = sort[len("metrics.") :], "last"
        head, _, tail = name.rpartition(".")
        if head and tail in STATS:
            name, stat = head, tail
        return lambda e: e.metrics.get(name, {}).get(stat)
    raise NotFound(
        f"sort {sort!r}: expected one of {', '.join(_SORTS)}, params.<key>, tags.<key> "
        "or metrics.<name>[.last|.min|.max|.count|.last_step]"
    )


def _sortable(value: Any) -> Any:
    """Params of mixed types sort numbers first, then text."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def runs_page(
    root: str | os.PathLike[str], query: RunsQuery, *, wait_s: float | None = None
) -> dict[str, Any]:
    """One page of the runs table: ``total`` rows match, ``runs`` from ``offset``, the
    columns those rows have, and a ``cursor``; with ``query.since`` only the matching rows
    changed after that cursor (and ``removed``: ids of runs gone since).

    While the store's first reading runs, waits for it, or with ``wait_s`` at most that
    long: the answer then covers the runs read so far, newest first, and says so in
    ``partial`` (``{"indexed": read, "of": found}``; None when every run is in)."""
    index = index_for(root)
    key = _sort_key(query.sort)
    snap = index.snapshot(wait_s)
    q = query.q.lower() if query.q else None
    matching = [e for e in snap.entries if _matches(e, query, q)]
    since = index.changed_since(query.since)
    removed: list[str] = []
    if since is not None:
        gen, removed = since
        matching = [e for e in matching if e.gen > gen]
    keyed = [(key(e), e) for e in matching]
    present = [pair for pair in keyed if pair[0] is not None]
    present.sort(key=lambda pair: pair[0], reverse=query.desc)
    ordered = [e for _, e in present] + [e for k, e in keyed if k is None]
    offset, limit = max(0, query.offset), max(0, query.limit)
    partial = None
    if snap.partial is not None:
        partial = {"indexed": snap.partial[0], "of": snap.partial[1]}
    out: dict[str, Any] = {
        "total": len(ordered),
        "offset": offset,
        "runs": [e.row for e in ordered[offset : offset + limit]],
        "columns": _columns(ordered),
        "cursor": snap.cursor,
        "partial": partial,
    }
    if query.since is not None:
        out["removed"] = removed
    return out


def _columns(entries: Iterable[_Entry]) -> dict[str, list[str]]:
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for e in entries:
        params.update(e.params)
        metrics.update(e.metrics)
        tags.update(e.tags)
    return {"params": sorted(params), "metrics": sorted(metrics), "tags": sorted(tags)}
