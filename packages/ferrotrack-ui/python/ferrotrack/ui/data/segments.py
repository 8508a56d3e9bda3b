"""One metric of one run read straight from its segment files: three columns, one name.

Core's ``read_run`` decodes every column of every segment (all metrics, four columns): on a
10 M-point run that was most of a cold chart request. Here only ``name`` (dictionary codes,
never a string per row), the x column and ``value`` are decoded, on a thread per segment
(pyarrow drops the GIL while it decodes), and only the rows of the asked name are kept.

Which files to read is core's decision (``live_segments``: the compaction rule of
``docs/format.md``). A file listed that a compaction deletes before it is opened makes the
read list again and start over, as core's readers do; rows are counted per rank in logged
order, so the counts (the cursor of ``after``) mean the same before and after a compaction.
A segment that cannot be read is skipped and named in ``problems``: the other segments'
points are still returned. That includes a segment whose footer reads but whose data pages
do not decode (a disk fault inside a column chunk): any failure while decoding one file is
that file's problem, never the request's. :func:`segment_problems` finds such segments for a
run's page without a chart having to read them first (each file checked once: segments are
immutable).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ferrotrack.core.errors import StoreCorruptError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Read", "read_metric", "segment_problems"]

LIVE_RETRIES = 50
"""New listings a read may take while compactions keep replacing the files it listed."""
_FOOTERS_MAX = 4096
_footers: OrderedDict[tuple[str, int, int], int] = OrderedDict()
_footers_lock = threading.Lock()
_checked: OrderedDict[tuple[str, int, int], str | None] = OrderedDict()
"""Per (path, size, mtime): None when every page of the segment decoded, else the problem."""
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass
class Read:
    """What :func:`read_metric` found: x and y in rank then logged order, the rows now read
    per rank, one line per segment that could not be read, and whether x is ascending."""

    x: np.ndarray
    y: np.ndarray
    rows: dict[int, int]
    problems: list[str] = field(default_factory=list)
    ordered: bool = True
    """Whether x is ascending (checked per segment on the pool threads)."""
    extra: np.ndarray | None = None
    """The ``extra`` column asked for (int64), row for row with x; None when not asked."""


class _Vanished(Exception):
    """A listed segment is gone (a compaction merged it): list again."""


@dataclass
class _Part:
    rank: int
    path: str
    skip: int  # rows of this segment already read (a cursor inside it)
    rows: int | None  # rows in the file (None: footer unreadable)
    problem: str | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=min(8, os.cpu_count() or 2), thread_name_prefix="ferrotrack-ui-read"
            )
        return _pool


def _row_count(path: str) -> int:
    """Rows of a segment from its footer, remembered per (path, size, mtime): segments are
    immutable once renamed into place, so a live run's old files are not reopened."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    key = _stamp(path)
    if key is None:
        raise _Vanished(path)
    with _footers_lock:
        n = _footers.get(key)
        if n is not None:
            _footers.move_to_end(key)
            return n
    try:
        n = int(pq.read_metadata(path).num_rows)
    except FileNotFoundError:
        raise _Vanished(path) from None
    except (OSError, pa.ArrowException, ValueError) as exc:  # ValueError: a damaged
        # footer's column names that are not UTF-8 (UnicodeDecodeError)
        if not os.path.exists(path):
            raise _Vanished(path) from None
        raise StoreCorruptError(f"{_short(path)}: not a readable Parquet file ({exc})") from None
    with _footers_lock:
        _footers[key] = n
        while len(_footers) > _FOOTERS_MAX:
            _footers.popitem(last=False)
    return n


def _short(path: str) -> str:
    """``metrics/<file>``: how a problem names a segment (no store path in answers)."""
    return "metrics/" + os.path.basename(path)


def _plan(folder: str, rows: dict[int, int]) -> list[_Part]:
    """The segments holding rows past ``rows`` (per rank), each with the rows to skip."""
    from ferrotrack.core._native import live_segments

    live, _ = live_segments(folder)
    parts: list[_Part] = []
    seen: dict[int, int] = {}
    for rank, _lo, _hi, listed in live:
        path = str(listed)
        try:
            n: int | None = _row_count(path)
            problem = None
        except StoreCorruptError as exc:
            n, problem = None, str(exc)
        start = seen.get(rank, 0)
        count = n or 0
        seen[rank] = start + count
        wanted = rows.get(rank, 0)
        if problem is not None:
            parts.append(_Part(rank, path, 0, None, problem))
        elif start + count > wanted:
            parts.append(_Part(rank, path, max(0, wanted - start), count))
        else:
            parts.append(_Part(rank, path, count, count))  # all read before: counted only
    return parts


def _rows_of(chunk: pa.Array, name: str) -> np.ndarray | bool:
    """Which rows of one chunk of the ``name`` column hold ``name``: True (all), False
    (none) or a boolean mask, from the chunk's dictionary (no string per row)."""
    import pyarrow as pa

    if pa.types.is_dictionary(chunk.type):
        values = chunk.dictionary.to_pylist()
        codes = [i for i, v in enumerate(values) if v == name]
        if not codes:
            return False
        if len(values) == 1 and chunk.null_count == 0:
            return True
        indices = chunk.indices.to_numpy(zero_copy_only=False)
        mask = indices == codes[0] if len(codes) == 1 else np.isin(indices, codes)
    else:  # a plain string column: not what the store writes, read all the same
        mask = np.asarray(chunk.to_numpy(zero_copy_only=False) == name, dtype=bool)
    if bool(mask.all()):
        return True
    return mask if bool(mask.any()) else False


def _int64(chunk: pa.Array) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_timestamp(chunk.type):
        chunk = chunk.view(pa.int64())
    return np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=np.int64)


def _read_part(
    part: _Part,
    name: str,
    column: str,
    x_out: np.ndarray,
    y_out: np.ndarray,
    *,
    e_out: np.ndarray | None = None,
    extra: str | None = None,
) -> int:
    """Writes the (x, y) of ``name`` in one segment, past its first ``part.skip`` rows, to
    the start of ``x_out``/``y_out`` (room for every row past ``skip``), and column
    ``extra`` to ``e_out`` when asked; returns how many. Run on a pool thread: the decode
    and the copies leave the GIL. A file that fails to decode raises StoreCorruptError."""
    try:
        return _decode_part(part, name, column, x_out, y_out, e_out=e_out, extra=extra)
    except (_Vanished, StoreCorruptError):
        raise
    except FileNotFoundError:
        raise _Vanished(part.path) from None
    except Exception as exc:  # any failure to decode a damaged file (a broken page, a
        # name that is not UTF-8, a count that disagrees) is the file's problem
        if not os.path.exists(part.path):
            raise _Vanished(part.path) from None
        problem = _unreadable(part.path, exc)
        _remember_damage(part.path, problem)
        raise StoreCorruptError(problem) from None


def _decode_part(
    part: _Part,
    name: str,
    column: str,
    x_out: np.ndarray,
    y_out: np.ndarray,
    *,
    e_out: np.ndarray | None,
    extra: str | None,
) -> int:
    """:func:`_read_part`'s work; whatever it raises, :func:`_read_part` names."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(part.path, memory_map=True)
    meta = file.metadata
    groups: list[int] = []
    offset = first = 0
    for g in range(meta.num_row_groups):
        n = meta.row_group(g).num_rows
        if offset + n > part.skip:
            if not groups:
                first = offset
            groups.append(g)
        offset += n
    if not groups:
        return 0
    columns = ["name", column, "value"] if extra is None else ["name", column, "value", extra]
    table = file.read_row_groups(groups, columns=columns, use_threads=False)
    if part.skip > first:
        table = table.slice(part.skip - first)
    written = 0
    for batch in table.to_batches():
        names, xc, yc = batch.columns[:3]
        keep = _rows_of(names, name)
        if keep is False:
            continue
        x = _int64(xc)
        y = np.asarray(yc.to_numpy(zero_copy_only=False), dtype=np.float64)
        e = _int64(batch.columns[3]) if e_out is not None else None
        if keep is True:
            n = x.size
            x_out[written : written + n] = x
            y_out[written : written + n] = y
            if e_out is not None:
                e_out[written : written + n] = e
        else:
            n = int(np.count_nonzero(keep))
            np.compress(keep, x, out=x_out[written : written + n])
            np.compress(keep, y, out=y_out[written : written + n])
            if e_out is not None and e is not None:
                np.compress(keep, e, out=e_out[written : written + n])
        written += n
    return written


def read_metric(
    folder: str, name: str, column: str, rows: dict[int, int], *, extra: str | None = None
) -> Read:
    """The points of metric ``name`` logged after ``rows`` (rows read per rank), x from
    ``column`` (``step``, or ``timestamp`` as int64 ns), and the rows per rank now; with
    ``extra`` (an int64 column, e.g. ``timestamp``) that column too, in ``Read.extra``."""
    for attempt in range(LIVE_RETRIES + 1):
        try:
            return _read_once(folder, name, column, rows, extra)
        except _Vanished as gone:
            if attempt == LIVE_RETRIES:
                raise StoreCorruptError(
                    f"segment {_short(str(gone))} vanished and the run kept changing over "
                    f"{LIVE_RETRIES} new listings"
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _read_once(
    folder: str, name: str, column: str, rows: dict[int, int], extra: str | None = None
) -> Read:
    """One listing, its segments read on the pool into one pair of arrays: each segment
    gets a slot as long as its rows (untouched pages of ``np.empty`` cost no memory), and
    the slots are closed up after, when a segment held other metrics too."""
    parts = _plan(folder, rows)
    todo = [p for p in parts if p.problem is None and p.rows is not None and p.skip < p.rows]
    sizes = [p.rows - p.skip for p in todo if p.rows is not None]
    starts = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))).tolist()
    x = np.empty(starts[-1], np.int64)
    y = np.empty(starts[-1], np.float64)
    e = np.empty(starts[-1], np.int64) if extra is not None else None

    def one(i: int) -> tuple[int, bool, str | None]:
        a, b = starts[i], starts[i + 1]
        try:
            out = None if e is None else e[a:b]
            n = _read_part(todo[i], name, column, x[a:b], y[a:b], e_out=out, extra=extra)
        except StoreCorruptError as exc:
            return 0, True, str(exc)
        part = x[a : a + n]
        return n, bool((part[1:] >= part[:-1]).all()), None  # checked here, on the pool

    if len(todo) > 1:
        results = list(_executor().map(one, range(len(todo))))
    else:
        results = [one(i) for i in range(len(todo))]
    end = 0
    ordered = True
    for i, (n, in_order, problem) in enumerate(results):
        if problem is not None:
            todo[i].problem = problem
        if n and end and x[end - 1] > x[starts[i]]:
            ordered = False
        ordered = ordered and in_order
        if n and starts[i] != end:  # close the gap left by rows of other metrics
            x[end : end + n] = x[starts[i] : starts[i] + n]
            y[end : end + n] = y[starts[i] : starts[i] + n]
            if e is not None:
                e[end : end + n] = e[starts[i] : starts[i] + n]
        end += n
    if end < x.size * 3 // 4:  # most slots held other metrics: keep only what is used
        x, y = x[:end].copy(), y[:end].copy()
        e = None if e is None else e[:end].copy()
    else:
        x, y = x[:end], y[:end]
        e = None if e is None else e[:end]
    now = dict(rows)
    for rank in {p.rank for p in parts}:
        now[rank] = sum(p.rows or 0 for p in parts if p.rank == rank)
    problems = [p.problem for p in parts if p.problem is not None]
    return Read(x, y, now, problems, ordered, e)


def _unreadable(path: str, exc: Exception) -> str:
    """How a problem names a segment whose data does not decode (the same line from a
    chart's read and from the run page's check)."""
    import pyarrow as pa

    what = str(exc).strip()
    if not isinstance(exc, OSError | pa.ArrowException):
        what = f"{type(exc).__name__}: {what}"
    return f"{_short(path)}: cannot be read ({what})"


def _stamp(path: str) -> tuple[str, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (path, st.st_size, st.st_mtime_ns)


def _remember(key: tuple[str, int, int], problem: str | None) -> None:
    with _footers_lock:
        _checked[key] = problem
        _checked.move_to_end(key)
        while len(_checked) > _FOOTERS_MAX:
            _checked.popitem(last=False)


def _remember_damage(path: str, problem: str) -> None:
    """A chart's read that failed on ``path`` spares the run page a check of it."""
    key = _stamp(path)
    if key is not None:
        _remember(key, problem)


def _check_data(path: str) -> str | None:
    """Decodes every page of one segment (all columns): the problem, or None. A file that
    is gone (merged by a compaction meanwhile) has none: its rows are in the new one."""
    import pyarrow.parquet as pq

    key = _stamp(path)
    if key is None:
        return None
    with _footers_lock:
        if key in _checked:
            return _checked[key]
    problem = None
    try:
        file = pq.ParquetFile(path, memory_map=True)
        for g in range(file.metadata.num_row_groups):
            file.read_row_group(g, use_threads=False)
    except FileNotFoundError:
        return None
    except Exception as exc:  # whatever a damaged file raises is its problem
        if not os.path.exists(path):
            return None
        problem = _unreadable(path, exc)
    _remember(key, problem)
    return problem


SYNC_CHECK_BYTES = 256 * 2**20
"""Bytes of segments not checked yet that a run page's request decodes before it answers
(≈ 40 M points, half a second here); the rest is decoded on the pool after the answer, and
a later request names what that found, so a run of billions of points opens at once."""

_pending: set[str] = set()
_pending_lock = threading.Lock()


def segment_problems(folder: str) -> list[str]:
    """The run's live segments whose footer reads but whose data does not decode, one line
    each (``metrics/<file>: cannot be read (...)``). Each file is decoded once per server
    (on the pool, a thread per segment) and its answer kept: segments never change once
    in place. Past :data:`SYNC_CHECK_BYTES` of new files, the others are decoded after
    this call returns. A file whose footer is unreadable is left to core's ``verify_run``."""
    from ferrotrack.core._native import live_segments

    now: list[str] = []
    later: list[str] = []
    budget = SYNC_CHECK_BYTES
    for _rank, _lo, _hi, listed in live_segments(folder)[0]:
        path = str(listed)
        try:
            _row_count(path)
        except (StoreCorruptError, _Vanished):
            continue
        key = _stamp(path)
        if key is None:
            continue
        with _footers_lock:
            known = key in _checked
        if known or key[1] <= budget:
            budget -= 0 if known else key[1]
            now.append(path)
        else:
            later.append(path)
    if len(now) > 1:
        found = list(_executor().map(_check_data, now))
    else:
        found = [_check_data(p) for p in now]
    for path in later:
        with _pending_lock:
            if path in _pending:
                continue
            _pending.add(path)
        _executor().submit(_check_later, path)
    return [p for p in found if p is not None]


def _check_later(path: str) -> None:
    try:
        _check_data(path)
    finally:
        with _pending_lock:
            _pending.discard(path)
