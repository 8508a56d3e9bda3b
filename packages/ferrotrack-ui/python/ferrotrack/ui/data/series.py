"""Points of one metric of some runs, downsampled for a chart, and live: only new points.

A run's points are read per rank with core's live reader (``read_run``, which never fails
on a compaction) and kept, per (run, metric, x), as sorted numpy arrays in a bounded cache,
together with how many rows of each rank they cover. When the run's segment files change
(name, size, mtime), only the rows past those counts are read and appended. The same counts
are the ``cursor`` handed to the browser: ``after=cursor`` returns the points written since.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ferrotrack.core.errors import InvalidArgumentError, StoreCorruptError
from ferrotrack.core.store.jsonfile import read_json
from ferrotrack.ui.data.downsample import minmax_indices
from ferrotrack.ui.data.locate import locate_run
from ferrotrack.ui.data.segments import read_metric
from ferrotrack.ui.errors import NotFound

__all__ = ["XKind", "decode_cursor", "encode_cursor", "series"]

XKind = Literal["step", "wall", "relative"]
X_KINDS = ("step", "wall", "relative")
CACHE_BYTES = 512 * 1024 * 1024
"""Memory the cached series may hold (16 bytes a point: 10 M points are 160 MB)."""


def encode_cursor(rows: dict[int, int]) -> str:
    """Rows read per rank as URL-safe text: ``c0-1200.1-35`` (``c`` alone: nothing read)."""
    return "c" + ".".join(f"{rank}-{n}" for rank, n in sorted(rows.items()))


def decode_cursor(cursor: str) -> dict[int, int]:
    """The rows per rank a cursor of :func:`encode_cursor` holds; a clear error otherwise."""
    if not cursor.startswith("c"):
        raise InvalidArgumentError(f"cursor {cursor!r}: not a cursor of an earlier answer")
    out: dict[int, int] = {}
    body = cursor[1:]
    for part in body.split(".") if body else []:
        rank, _, n = part.partition("-")
        if not (rank.isdigit() and n.isdigit()):
            raise InvalidArgumentError(f"cursor {cursor!r}: not a cursor of an earlier answer")
        out[int(rank)] = int(n)
    return out


@dataclass
class _Cached:
    """One metric of one run: x (int64 steps or ns times) and y, sorted by x; the rows read
    per rank; the segment files' stamp then; the segments that could not be read."""

    x: np.ndarray
    y: np.ndarray
    rows: dict[int, int] = field(default_factory=dict)
    stamp: tuple[Any, ...] = ()
    has_nan: bool = False
    problems: tuple[str, ...] = ()

    @property
    def nbytes(self) -> int:
        return int(self.x.nbytes + self.y.nbytes)


_cache: OrderedDict[tuple[str, str, str], _Cached] = OrderedDict()
_cache_lock = threading.Lock()
_load_locks = tuple(threading.Lock() for _ in range(64))
"""Striped locks: two requests for the same series read its segments once, not twice."""


def _segments_stamp(folder: str) -> tuple[Any, ...]:
    """(name, size, mtime) of every segment file: what changes when points are written."""
    out = []
    try:
        with os.scandir(os.path.join(folder, "metrics")) as it:
            for e in it:
                if e.name.endswith(".parquet"):
                    st = e.stat()
                    out.append((e.name, st.st_size, st.st_mtime_ns))
    except FileNotFoundError:
        pass
    return tuple(sorted(out))


def _stable_order(x: np.ndarray, ordered: bool | None = None) -> np.ndarray | None:
    """The permutation that puts x ascending (stable: points of one x keep their logged
    order), or None when it already is; ``ordered`` when the caller knows which."""
    if ordered is None:
        ordered = x.size < 2 or bool((x[1:] >= x[:-1]).all())
    return None if ordered else np.argsort(x, kind="stable")


def _sorted(
    x: np.ndarray, y: np.ndarray, ordered: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """x ascending, y with it (see :func:`_stable_order`)."""
    order = _stable_order(x, ordered)
    return (x, y) if order is None else (x[order], y[order])


def _load(folder: str, name: str, column: str) -> _Cached:
    """The cached series, brought up to date with what was written since it was read."""
    key = (folder, name, column)
    with _load_locks[hash(key) % len(_load_locks)]:
        stamp = _segments_stamp(folder)
        with _cache_lock:
            entry = _cache.get(key)
            if entry is not None:
                _cache.move_to_end(key)
                if entry.stamp == stamp:
                    return entry
        rows = {} if entry is None else entry.rows
        got = read_metric(folder, name, column, rows)
        if entry is not None and any(got.rows.get(r, 0) < n for r, n in rows.items()):
            # fewer rows than already read: recovery set a segment aside; read it all again
            entry, got = None, read_metric(folder, name, column, {})
        x, y, ordered = got.x, got.y, got.ordered
        problems = tuple(got.problems)
        if entry is not None:
            problems = tuple(dict.fromkeys((*entry.problems, *problems)))
            if x.size:
                ordered = ordered and (entry.x.size == 0 or entry.x[-1] <= x[0])
                x, y = np.concatenate([entry.x, x]), np.concatenate([entry.y, y])
            else:
                x, y = entry.x, entry.y
        x, y = _sorted(x, y, ordered)
        fresh = _Cached(x, y, got.rows, stamp, bool(np.isnan(y).any()), problems)
        with _cache_lock:
            if fresh.nbytes <= CACHE_BYTES:  # one series beyond the bound is not kept
                _cache[key] = fresh
                _cache.move_to_end(key)
            else:
                _cache.pop(key, None)
            total = sum(e.nbytes for e in _cache.values())
            while total > CACHE_BYTES:
                _, old = _cache.popitem(last=False)
                total -= old.nbytes
        return fresh


def _has_metric(folder: str, name: str) -> bool:
    from ferrotrack.core.analysis.summaries import read_run_summary

    try:
        return name in read_run_summary(folder).get_column("name").to_list()
    except StoreCorruptError:
        return True


def _running(folder: str) -> bool:
    """Whether the run may still log (a metric it lacks may come): not a 404 then."""
    from ferrotrack.core.store.catalog import effective_status

    return effective_status(read_json_path(folder)) == "running"


def _x_out(x: np.ndarray, kind: str, origin: int) -> list[Any]:
    if kind == "step":
        return x.tolist()  # type: ignore[no-any-return]
    if kind == "wall":
        return (x / 1e6).tolist()  # type: ignore[no-any-return]
    return ((x - origin) / 1e9).tolist()  # type: ignore[no-any-return]


def _x_in(value: float | None, kind: str, origin: int) -> float | None:
    if value is None:
        return None
    if kind == "wall":
        return value * 1e6
    if kind == "relative":
        return value * 1e9 + origin
    return value


_I64 = np.iinfo(np.int64)


def _ceil(value: float) -> int:
    """The least int64 x >= ``value``: searching the int64 x with a float would cast
    every x to float first (a copy of the whole series per request). NaN: past the end."""
    if math.isnan(value) or value > _I64.max:
        return int(_I64.max)
    return int(_I64.min) if value < _I64.min else math.ceil(value)


def _floor(value: float) -> int:
    """The greatest int64 x <= ``value`` (see :func:`_ceil`). NaN: before the start."""
    if math.isnan(value) or value < _I64.min:
        return int(_I64.min)
    return int(_I64.max) if value > _I64.max else math.floor(value)


def _y_out(y: np.ndarray) -> list[float | None]:
    values: list[float | None] = y.tolist()
    if not bool(np.isfinite(y).all()):
        bad = np.flatnonzero(~np.isfinite(y)).tolist()
        for i in bad:
            values[i] = None
    return values


def series(
    root: str | os.PathLike[str],
    run_ids: Sequence[str],
    name: str,
    *,
    x: XKind = "step",
    x_min: float | None = None,
    x_max: float | None = None,
    points: int = 2000,
    after: Sequence[str | None] | str | None = None,
    times: bool = False,
) -> dict[str, Any]:
    """Metric ``name`` of each run: at most ``points`` points of [x_min, x_max] (first,
    last, lowest and highest of each bucket), or with ``after`` (one cursor, or one per
    run) only the points written since that cursor (downsampled too if too many). A run
    without a cursor of its own (``after`` shorter than ``run_ids``, or an empty one) gets
    its full answer: a chart that adds a run while live; cursors beyond the runs are unused.

    ``x``: ``step``; ``wall`` (milliseconds since the epoch, UTC); ``relative`` (seconds
    since the run started). ``x_min``/``x_max`` are in the same unit. Non-finite values are
    null. Raises :class:`NotFound` for an unknown run, or when no run has the metric (nor
    is still running, so may log it yet).

    ``times`` (with ``x="step"``, no ``after``): each entry also holds ``t``, the time each
    returned point was logged (int ns since the epoch), and ``origin``, the run's start in
    ns (what ``relative`` counts from; 0 when unknown): a report draws its time axes from
    these. Read from the segments, not the cache (a report reads each series once).
    """
    if x not in X_KINDS:
        raise InvalidArgumentError(f"x={x!r}: expected one of {', '.join(X_KINDS)}")
    if not isinstance(points, int) or points < 4:
        raise InvalidArgumentError(f"points={points!r}: expected an int of at least 4")
    if not run_ids:
        raise InvalidArgumentError("series: give at least one run")
    if times and (x != "step" or after is not None):
        raise InvalidArgumentError("series: times=True needs x='step' and no after")
    afters = _afters(after, len(run_ids))
    refs = [locate_run(root, r) for r in run_ids]
    column = "step" if x == "step" else "timestamp"
    out = []
    found = False
    for ref, cursor in zip(refs, afters, strict=True):
        origin = _origin(ref.folder) if x == "relative" or times else 0
        entry: dict[str, Any] = {"run_id": ref.run_id, "problem": None}
        ts: np.ndarray | None = None
        try:
            if cursor is None:
                if times:
                    xs, ys, ts, rows, problems = _with_times(ref.folder, name)
                    nan = None
                else:
                    cached = _load(ref.folder, name, column)
                    xs, ys, rows, nan = cached.x, cached.y, cached.rows, cached.has_nan
                    problems = list(cached.problems)
                found = found or xs.size > 0
                a, b = _span(xs, _x_in(x_min, x, origin), _x_in(x_max, x, origin))
                xs, ys, ts = xs[a:b], ys[a:b], None if ts is None else ts[a:b]
            else:
                got = read_metric(ref.folder, name, column, decode_cursor(cursor))
                xs, ys = _sorted(got.x, got.y, got.ordered)
                rows, nan, problems = got.rows, None, got.problems
                found = found or xs.size > 0
        except StoreCorruptError as exc:  # the run kept being rewritten under the read
            xs, ys, nan, ts = np.empty(0, np.int64), np.empty(0), False, None
            rows = decode_cursor(cursor) if cursor else {}
            problems = [str(exc)]
        if problems:
            entry["problem"] = "; ".join(problems)
            found = True
        keep = minmax_indices(xs, ys, points, has_nan=nan)
        entry.update(
            total=int(xs.size),
            returned=int(keep.size),
            downsampled=bool(keep.size < xs.size),
            x=_x_out(xs[keep], x, origin),
            y=_y_out(ys[keep]),
            cursor=encode_cursor(rows),
        )
        if times:
            entry.update(t=[] if ts is None else ts[keep].tolist(), origin=origin)
        out.append(entry)
    fresh = afters == [None] * len(refs)
    if (
        fresh
        and not found
        and not any(_has_metric(r.folder, name) or _running(r.folder) for r in refs)
    ):
        shown = ", ".join(r.run_id for r in refs[:5])
        raise NotFound(f"no metric {name!r} in run(s) {shown}")
    return {"name": name, "x": x, "series": out}


def _origin(folder: str) -> int:
    """The run's start (ns since the epoch; 0 when unknown): what ``relative`` counts from."""
    started = read_json_path(folder).get("started")
    return started if isinstance(started, int) else 0


def _span(xs: np.ndarray, lo: float | None, hi: float | None) -> tuple[int, int]:
    """The rows of sorted ``xs`` within [lo, hi] (a bound of None is open)."""
    a = 0 if lo is None else int(np.searchsorted(xs, _ceil(lo), side="left"))
    b = xs.size if hi is None else int(np.searchsorted(xs, _floor(hi), side="right"))
    return a, b


def _with_times(
    folder: str, name: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, int], list[str]]:
    """Steps, values and times (ns) of metric ``name``, sorted by step (stable), the rows
    read per rank and the segments that could not be read."""
    got = read_metric(folder, name, "step", {}, extra="timestamp")
    ts = got.extra if got.extra is not None else np.zeros_like(got.x)
    order = _stable_order(got.x, got.ordered)
    if order is None:
        return got.x, got.y, ts, got.rows, got.problems
    return got.x[order], got.y[order], ts[order], got.rows, got.problems


def read_json_path(folder: str) -> dict[str, Any]:
    """The run's ``run.json`` as a dict ({} when missing)."""
    from pathlib import Path

    return read_json(Path(folder) / "run.json")


def _afters(after: Sequence[str | None] | str | None, n: int) -> list[str | None]:
    if after is None:
        return [None] * n
    if isinstance(after, str):
        return [after] * n
    values = [v or None for v in after][:n]
    return values + [None] * (n - len(values))


def clear_cache() -> None:
    """Forgets every cached series (tests and the benchmark's cold reads)."""
    with _cache_lock:
        _cache.clear()
