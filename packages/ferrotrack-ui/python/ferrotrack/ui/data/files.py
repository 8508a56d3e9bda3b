"""A run's files for the browser: artifact paths checked to stay inside the run, previews of
artifacts (text head, table rows), and log tails read by byte offsets."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.ui.data._json import jsonable
from ferrotrack.ui.data.detail import LOG_STREAMS, artifact_kind
from ferrotrack.ui.data.locate import locate_run
from ferrotrack.ui.errors import NotFound

__all__ = ["PREVIEW_BYTES", "PREVIEW_ROWS", "artifact_file", "log_chunk", "open_artifact",
           "preview"]  # fmt: skip

PREVIEW_BYTES = 64 * 1024
PREVIEW_ROWS = 100
LOG_LIMIT_MAX = 1024 * 1024


def artifact_file(root: str | os.PathLike[str], run_id: str, path: str) -> Path:
    """The artifact file ``path`` of a run. Refused (``NotFound`` saying so, as if it did not
    exist): an empty or absolute path, ``.`` or ``..`` parts, a backslash or NUL, and any
    path that (through symlinks too) resolves outside the run's ``artifacts/`` folder."""
    return _checked(root, run_id, path)[1]


def _checked(root: str | os.PathLike[str], run_id: str, path: str) -> tuple[Path, Path]:
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        raise NotFound(f"artifact path {path!r} refused: give a relative path")
    parts = path.split("/")
    if any(p in ("..", ".", "") for p in parts):
        raise NotFound(f"artifact path {path!r} refused: no '.', '..' or empty parts allowed")
    base = Path(locate_run(root, run_id).folder, "artifacts").resolve()
    target = base.joinpath(*parts).resolve()
    if not target.is_relative_to(base) or target == base:
        raise NotFound(f"artifact path {path!r} refused: it leaves the run's folder")
    if not target.is_file():
        raise NotFound(f"no artifact {path!r} in run {run_id!r}")
    return base, target


def open_artifact(root: str | os.PathLike[str], run_id: str, path: str) -> tuple[BinaryIO, int]:
    """The artifact opened for reading, and its size. The checks of :func:`artifact_file`
    hold for the file actually opened: it is opened without following a final symlink,
    must be a regular file, and the path the kernel gives for the open descriptor must lie
    inside ``artifacts/``, so a file swapped for a symlink after the check is refused."""
    base, target = _checked(root, run_id, path)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # became a symlink since the check
            raise NotFound(f"artifact path {path!r} refused: it is a symlink") from None
        raise NotFound(f"no artifact {path!r} in run {run_id!r}") from None
    try:
        st = os.fstat(fd)
        opened = Path(os.readlink(f"/proc/self/fd/{fd}")) if os.path.isdir("/proc/self/fd") else (
            target)  # fmt: skip
        if not stat.S_ISREG(st.st_mode) or not opened.is_relative_to(base):
            raise NotFound(f"artifact path {path!r} refused: it leaves the run's folder")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def preview(file: BinaryIO, name: str, size: int) -> dict[str, Any]:
    """What the run page shows of an artifact: ``text`` (its first 64 KiB), ``table`` (the
    first 100 rows of a CSV or Parquet file: ``columns``, ``rows``), or just its kind."""
    kind = artifact_kind(name)
    if kind == "text":
        head = file.read(PREVIEW_BYTES + 1)
        return {"kind": "text", "text": head[:PREVIEW_BYTES].decode("utf-8", "replace"),
                "truncated": len(head) > PREVIEW_BYTES}  # fmt: skip
    if kind == "table":
        try:
            return _table(file, name)
        except Exception as exc:  # an unreadable table is shown as such, not as a 500
            return {"kind": "binary", "size": size,
                    "error": f"not readable as a table: {type(exc).__name__}: {exc}"}  # fmt: skip
    return {"kind": kind, "size": size}


def _table(file: BinaryIO, name: str) -> dict[str, Any]:
    import polars as pl

    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".parquet":
        frame = pl.read_parquet(file, n_rows=PREVIEW_ROWS)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        frame = pl.read_csv(file, n_rows=PREVIEW_ROWS, separator=sep, infer_schema_length=0)
    rows = [[_cell(v) for v in row] for row in frame.iter_rows()]
    return {"kind": "table", "columns": frame.columns, "rows": rows}


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return jsonable(value)
    return str(value)


def log_chunk(
    root: str | os.PathLike[str],
    run_id: str,
    stream: str,
    offset: int | None = None,
    limit: int = 64 * 1024,
) -> dict[str, Any]:
    """Bytes ``offset..offset+limit`` of a run's ``logs/<stream>.txt`` as text; without
    ``offset``, its last ``limit`` bytes (the tail). ``next_offset`` is where to read next."""
    if stream not in LOG_STREAMS:
        raise NotFound(f"no log stream {stream!r}: expected one of {', '.join(LOG_STREAMS)}")
    if limit < 1 or limit > LOG_LIMIT_MAX:
        raise InvalidArgumentError(f"limit={limit}: expected 1..{LOG_LIMIT_MAX}")
    if offset is not None and offset < 0:
        raise InvalidArgumentError(f"offset={offset}: expected 0 or more")
    path = os.path.join(locate_run(root, run_id).folder, "logs", f"{stream}.txt")
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)  # a symlink planted as the log is not followed
    except OSError:
        raise NotFound(f"run {run_id!r} has no {stream} log") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(f"run {run_id!r} has no {stream} log")
        size = st.st_size
        start = max(0, size - limit) if offset is None else min(offset, size)
        f.seek(start)
        data = f.read(limit)
    return {"text": data.decode("utf-8", "replace"), "offset": start,
            "next_offset": start + len(data), "size": size}  # fmt: skip
