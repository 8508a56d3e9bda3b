"""The runs table: one JSON-ready row per run, kept per store and refreshed run by run.

Reading 10,000 runs' ``run.json``, ``params.json`` and summaries costs most of a second;
stat-ing their files costs a tenth of that. So an index per store keeps each run's row with
the (size, mtime) of the files it came from, and re-reads only the runs whose files
changed since the last call, in one batch through core's parallel readers. Each row
remembers the generation at which it last changed, which is the cursor of ``since``.
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ferrotrack.core.params import flatten
from ferrotrack.core.store.catalog import RunRef, effective_status, iter_run_refs
from ferrotrack.core.store.jsonfile import read_json_objects
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.ui.data._json import finite, iso, jsonable
from ferrotrack.ui.errors import NotFound

__all__ = ["RunsIndex", "RunsQuery", "index_for", "list_experiments", "row_of", "runs_page"]

STATS = ("last", "min", "max", "count", "last_step")
_SORTS = ("start", "end", "duration", "name", "status", "experiment", "run_id")


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


@dataclass
class _Entry:
    row: dict[str, Any]
    stamp: tuple[int, ...]
    gen: int
    meta: Mapping[str, Any]
    text: str


class RunsIndex:
    """The rows of every run of one store, refreshed on each call for what changed."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = resolve_root(root)
        self.token = secrets.token_hex(4)
        self._entries: dict[str, _Entry] = {}
        self._removed: dict[str, int] = {}
        self._gen = 0
        self._lock = threading.Lock()

    @property
    def cursor(self) -> str:
        """The cursor of the index as it is now."""
        return f"{self.token}-{self._gen}"

    def refresh(self) -> list[_Entry]:
        """Re-reads the runs whose files changed; returns every entry, statuses current."""
        with self._lock:
            refs = list(iter_run_refs(self.root))
            stamps = [_stamp(r.folder) for r in refs]
            changed = [
                (ref, stamp)
                for ref, stamp in zip(refs, stamps, strict=True)
                if (e := self._entries.get(ref.folder)) is None or e.stamp != stamp
            ]
            if changed:
                self._gen += 1
                self._load(changed)
            present = {r.folder for r in refs}
            for folder in [f for f in self._entries if f not in present]:
                self._removed[self._entries.pop(folder).row["run_id"]] = self._gen + 1
                self._gen += 1
            entries = [self._entries[r.folder] for r in refs]
            now = time.time_ns()
            for e in entries:
                if e.meta.get("status") in (None, "running"):
                    status = effective_status(e.meta, now_ns=now)
                    if status != e.row["status"]:
                        self._gen += 1
                        e.row["status"], e.gen = status, self._gen
            return entries

    def _load(self, changed: list[tuple[RunRef, tuple[int, ...]]]) -> None:
        from ferrotrack.core.analysis.summaries import read_summaries

        refs = [r for r, _ in changed]
        metas = read_json_objects([os.path.join(r.folder, "run.json") for r in refs])
        params = read_json_objects([os.path.join(r.folder, "params.json") for r in refs])
        summary = read_summaries(refs, columns=["count", "last", "min", "max", "last_step"])
        per_run: list[dict[str, dict[str, Any]]] = [{} for _ in refs]
        for rec in summary.iter_rows(named=True):
            per_run[rec["run_idx"]][rec["name"]] = {
                "last": finite(rec["last"]),
                "min": finite(rec["min"]),
                "max": finite(rec["max"]),
                "count": rec["count"],
                "last_step": rec["last_step"],
            }
        for (ref, stamp), meta, p, m in zip(changed, metas, params, per_run, strict=True):
            row = row_of(ref, meta, p, m)
            text = " ".join([row["name"], row["run_id"], row["experiment"],
                             *(f"{k}:{v}" for k, v in row["tags"].items())]).lower()  # fmt: skip
            self._entries[ref.folder] = _Entry(row, stamp, self._gen, meta, text)

    def changed_since(self, cursor: str | None) -> tuple[int, list[str]] | None:
        """The generation a cursor of this index stands for and the runs removed after it;
        None when the cursor is of another index (a restarted server): everything is new."""
        if not cursor:
            return None
        token, _, gen = cursor.partition("-")
        if token != self.token or not gen.isdigit():
            return None
        g = int(gen)
        return g, sorted(run for run, at in self._removed.items() if at > g)


def _stamp(folder: str) -> tuple[int, ...]:
    """(size, mtime) of the files a row comes from: run.json, params.json, summaries."""
    out: list[int] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                name = entry.name
                if name in ("run.json", "params.json") or (
                    name.startswith("summary") and name.endswith(".parquet")
                ):
                    st = entry.stat()
                    out += (hash(name), st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        pass
    return tuple(sorted(out))


def row_of(
    ref: RunRef,
    meta: Mapping[str, Any],
    params: Mapping[str, Any],
    metrics: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """The JSON-ready row of one run (the contract's ``Row``)."""
    started, ended = meta.get("started"), meta.get("ended")
    duration = None
    if isinstance(started, int) and isinstance(ended, int):
        duration = (ended - started) / 1e9
    error = meta.get("error")
    message = None
    if isinstance(error, dict):
        message = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    tags = meta.get("tags")
    return {
        "run_id": ref.run_id,
        "experiment": ref.experiment,
        "name": str(meta.get("name") or ref.run_id[-8:]),
        "status": effective_status(meta),
        "start": iso(started),
        "end": iso(ended),
        "duration_s": duration,
        "tags": {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        "params": jsonable(flatten(dict(params))),
        "metrics": metrics,
        "error": message,
    }


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
        row = e.row
        c = counts.setdefault(
            row["experiment"], {"name": row["experiment"], "runs": 0, "running": 0, "failed": 0}
        )
        c["runs"] += 1
        c["running"] += row["status"] == "running"
        c["failed"] += row["status"] in ("failed", "crashed")  # fmt: skip
    return {"experiments": [counts[k] for k in sorted(counts)]}


def _in_range(value: Any, bounds: tuple[float | None, float | None]) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    lo, hi = bounds
    if isinstance(value, float) and math.isnan(value):
        return False
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _matches(e: _Entry, query: RunsQuery, q: str | None) -> bool:
    row = e.row
    if query.experiment is not None and row["experiment"] != query.experiment:
        return False
    if query.status is not None and row["status"] != query.status:
        return False
    tags = row["tags"]
    if any(tags.get(k) != v for k, v in query.tags.items()):
        return False
    if q is not None and q not in e.text:
        return False
    params = row["params"]
    if any(not _in_range(params.get(k), b) for k, b in query.params.items()):
        return False
    metrics = row["metrics"]
    return all(_in_range(metrics.get(k, {}).get("last"), b) for k, b in query.metrics.items())


def _sort_key(sort: str) -> Any:
    if sort in ("start", "end", "name", "status", "experiment", "run_id"):
        return lambda row: row[sort]
    if sort == "duration":
        return lambda row: row["duration_s"]
    if sort.startswith("params."):
        key = sort[len("params.") :]
        return lambda row: _sortable(row["params"].get(key))
    if sort.startswith("metrics."):
        name, stat = sort[len("metrics.") :], "last"
        head, _, tail = name.rpartition(".")
        if head and tail in STATS:
            name, stat = head, tail
        return lambda row: row["metrics"].get(name, {}).get(stat)
    raise NotFound(
        f"sort {sort!r}: expected one of {', '.join(_SORTS)}, params.<key> or "
        "metrics.<name>[.last|.min|.max|.count|.last_step]"
    )


def _sortable(value: Any) -> Any:
    """Params of mixed types sort numbers first, then text."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))


def runs_page(root: str | os.PathLike[str], query: RunsQuery) -> dict[str, Any]:
    """One page of the runs table: ``total`` rows match, ``runs`` from ``offset``, the
    columns those rows have, and a ``cursor``; with ``query.since`` only the matching rows
    changed after that cursor (and ``removed``: ids of runs gone since)."""
    index = index_for(root)
    entries = index.refresh()
    q = query.q.lower() if query.q else None
    rows = [e for e in entries if _matches(e, query, q)]
    since = index.changed_since(query.since)
    removed: list[str] = []
    if since is not None:
        gen, removed = since
        rows = [e for e in rows if e.gen > gen]
    key = _sort_key(query.sort)
    present = [e.row for e in rows if key(e.row) is not None]
    missing = [e.row for e in rows if key(e.row) is None]
    present.sort(key=key, reverse=query.desc)
    ordered = present + missing
    offset, limit = max(0, query.offset), max(0, query.limit)
    out: dict[str, Any] = {
        "total": len(ordered),
        "offset": offset,
        "runs": ordered[offset : offset + limit],
        "columns": _columns(ordered),
        "cursor": index.cursor,
    }
    if query.since is not None:
        out["removed"] = removed
    return out


def _columns(rows: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for row in rows:
        params.update(row["params"])
        metrics.update(row["metrics"])
        tags.update(row["tags"])
    return {"params": sorted(params), "metrics": sorted(metrics), "tags": sorted(tags)}
