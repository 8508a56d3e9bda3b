"""Points of one metric of some runs, downsampled for a chart, and live: only new points.

A run's points are read per rank with core's live reader (``read_run``, which never fails
on a compaction) and kept, per (run, metric, x), as sorted numpy arrays in a bounded cache,
together with how many rows of each rank they cover. When the run's segment files change
(name, size, mtime), only the rows past those counts are read and appended. The same counts
are the ``cursor`` handed to the browser: ``after=cursor`` returns the points written since.
"""

from __future__ import annotations

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
    """One metric of one run: x (int64 steps or ns times) and y, sorted by x."""

    x: np.ndarray
    y: np.ndarray
    rows: dict[int, int] = field(default_factory=dict)
    stamp: tuple[Any, ...] = ()
    has_nan: bool = False

    @property
    def nbytes(self) -> int:
        return int(self.x.nbytes + self.y.nbytes)


_cache: OrderedDict[tuple[str, str, str], _Cached] = OrderedDict()
_cache_lock = threading.Lock()


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


def _ranks(folder: str) -> list[int]:
    from ferrotrack.core._native import live_segments

    return sorted({rank for rank, *_ in live_segments(folder)[0]})


def _read_new(
    folder: str, name: str, column: str, rows: dict[int, int]
) -> tuple[np.ndarray, np.ndarray, dict[int, int]]:
    """The points of ``name`` past ``rows`` (per rank), in rank then logged order, and the
    new rows per rank."""
    import polars as pl

    from ferrotrack.core._native import read_run

    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    now = dict(rows)
    for rank in _ranks(folder):
        start = rows.get(rank, 0)
        table = pl.DataFrame(read_run(folder, rank, start))
        now[rank] = start + table.height
        if table.height == 0:
            continue
        part = table.filter(pl.col("name") == name)  # on the codes: no string per row
        xs.append(part.get_column(column).to_physical().to_numpy())
        ys.append(part.get_column("value").to_numpy())
    if not xs:
        return np.empty(0, np.int64), np.empty(0, np.float64), now
    return np.concatenate(xs), np.concatenate(ys), now


def _sorted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if x.size > 1 and not bool((x[1:] >= x[:-1]).all()):
        order = np.argsort(x, kind="stable")
        return x[order], y[order]
    return x, y


def _load(folder: str, name: str, column: str) -> _Cached:
    """The cached series, brought up to date with what was written since it was read."""
    key = (folder, name, column)
    stamp = _segments_stamp(folder)
    with _cache_lock:
        entry = _cache.get(key)
        if entry is not None:
            _cache.move_to_end(key)
            if entry.stamp == stamp:
                return entry
    rows = {} if entry is None else entry.rows
    x, y, now = _read_new(folder, name, column, rows)
    if entry is not None:
        if x.size:
            x, y = np.concatenate([entry.x, x]), np.concatenate([entry.y, y])
        else:
            x, y = entry.x, entry.y
    x, y = _sorted(x, y)
    fresh = _Cached(x, y, now, stamp, bool(np.isnan(y).any()))
    with _cache_lock:
        _cache[key] = fresh
        _cache.move_to_end(key)
        total = sum(e.nbytes for e in _cache.values())
        while total > CACHE_BYTES and len(_cache) > 1:
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
    """
    if x not in X_KINDS:
        raise InvalidArgumentError(f"x={x!r}: expected one of {', '.join(X_KINDS)}")
    if not isinstance(points, int) or points < 4:
        raise InvalidArgumentError(f"points={points!r}: expected an int of at least 4")
    if not run_ids:
        raise InvalidArgumentError("series: give at least one run")
    afters = _afters(after, len(run_ids))
    refs = [locate_run(root, r) for r in run_ids]
    column = "step" if x == "step" else "timestamp"
    out = []
    found = False
    for ref, cursor in zip(refs, afters, strict=True):
        origin = 0
        if x == "relative":
            started = read_json_path(ref.folder).get("started")
            origin = started if isinstance(started, int) else 0
        entry: dict[str, Any] = {"run_id": ref.run_id, "problem": None}
        try:
            if cursor is None:
                cached = _load(ref.folder, name, column)
                xs, ys, rows, nan = cached.x, cached.y, cached.rows, cached.has_nan
                lo, hi = _x_in(x_min, x, origin), _x_in(x_max, x, origin)
                a = 0 if lo is None else int(np.searchsorted(xs, lo, side="left"))
                b = xs.size if hi is None else int(np.searchsorted(xs, hi, side="right"))
                xs, ys = xs[a:b], ys[a:b]
                found = found or cached.x.size > 0
            else:
                xs, ys, rows = _read_new(ref.folder, name, column, decode_cursor(cursor))
                nan = None
                xs, ys = _sorted(xs, ys)
                found = found or xs.size > 0
        except StoreCorruptError as exc:
            xs, ys, rows, nan = np.empty(0, np.int64), np.empty(0), {}, False
            entry["problem"] = str(exc)
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
