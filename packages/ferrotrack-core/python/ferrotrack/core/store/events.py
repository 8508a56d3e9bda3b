"""A run's event log: levels starting and ending, checkpoints, messages, in order.

Each rank appends to ``<run>/events/rank-<rank>.jsonl`` (``docs/format.md``): one JSON
object per line, each line written with one ``write`` on an ``O_APPEND`` descriptor, so a
crash can at worst leave a torn last line, which readers skip. :func:`read_events` gives
the events of every rank ordered by ``(time, rank, seq)``.

``ft.events(experiment=...)`` (:func:`ferrotrack.core.analysis.events`) reads the events of
many runs into a polars DataFrame.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import InvalidArgumentError, InvalidValueError, StoreCorruptWarning
from ferrotrack.core.params import check_json
from ferrotrack.core.records import RunEvent

__all__ = ["EVENTS_DIR", "EventLog", "check_event", "event_files", "read_events"]

EVENTS_DIR = "events"
_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_FILE = re.compile(r"^rank-(\d+)\.jsonl$")
_INT64 = 1 << 63
_KINDS_SEEN: set[str] = set()
"""Kinds already matched against ``_KIND``: an experiment logs the same few per epoch."""
_FLAT = (str, int, bool, type(None))
_encode = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode
"""One encoder for every line: ``json.dumps`` with options builds a new one per call."""
_quote = json.encoder.encode_basestring_ascii


def _text(value: Any, what: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidValueError(f"log_event: {what} must be a str or None, got {type(value).__name__}")


def check_event(  # noqa: PLR0917
    kind: Any,
    message: Any = None,
    name: Any = None,
    level: Any = None,
    step: Any = None,
    data: Any = None,
) -> dict[str, Any]:
    """The fields of an event, checked; raises naming the field that is wrong."""
    if kind not in _KINDS_SEEN:
        _check_kind(kind)
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, int) or not -_INT64 <= step < _INT64
    ):
        raise InvalidValueError(f"log_event: step must be an int64 or None, got {step!r}")
    if data is None:
        data = {}
    elif not isinstance(data, Mapping):
        raise InvalidValueError(
            f"log_event: data must be a mapping (a JSON object), got {type(data).__name__}"
        )
    return {
        "kind": kind,
        "name": _text(name, "name"),
        "level": _text(level, "level"),
        "step": step,
        "message": _text(message, "message"),
        "data": _flat_copy(data) if _is_flat(data) else check_json(data, "data"),
    }


def _check_kind(kind: Any) -> None:
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise InvalidArgumentError(
            f"log_event: kind {kind!r}: expected 1-64 characters of a-z, 0-9, '_' "
            "starting with a letter (level_start, checkpoint, message, ...)"
        )
    if len(_KINDS_SEEN) < 1024:
        _KINDS_SEEN.add(kind)


def _is_flat(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is a dict of plain scalars with str keys (what level events carry),
    which needs no recursive check: the common case, kept cheap."""
    if type(data) is not dict:
        return False
    for key, value in data.items():
        if type(key) is not str:
            return False
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                return False
        elif kind not in _FLAT:
            return False
    return True


def _flat_copy(data: dict[str, Any]) -> dict[str, Any]:
    return dict(data)


def _json_text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def _json_data(data: dict[str, Any]) -> str:
    """``data`` as compact JSON; plain scalars are spelled here (the experiment layer's
    level events, several per epoch), anything nested goes through the encoder."""
    parts = []
    for key, value in data.items():
        kind = type(value)
        if kind is str:
            text = _quote(value)
        elif kind is int:
            text = str(value)
        elif kind is bool:
            text = "true" if value else "false"
        elif value is None:
            text = "null"
        elif kind is float and math.isfinite(value):
            text = repr(value)
        else:
            return _encode(data)
        parts.append(f"{_quote(key)}:{text}")
    return "{" + ",".join(parts) + "}"


def _line(event: RunEvent) -> str:
    """One event as the JSON line ``docs/format.md`` specifies (same keys, same order)."""
    step = "null" if event.step is None else str(event.step)
    return (
        f'{{"seq":{event.seq},"time":{event.time},"rows":{event.rows},'
        f'"kind":{_quote(event.kind)},"name":{_json_text(event.name)},'
        f'"level":{_json_text(event.level)},"step":{step},'
        f'"message":{_json_text(event.message)},"data":{_json_data(event.data)}}}\n'
    )


def _path(run_dir: Path, rank: int) -> Path:
    return run_dir / EVENTS_DIR / f"rank-{rank}.jsonl"


def _lines(data: bytes) -> list[bytes]:
    """Complete lines only: a last line without its newline was torn by a crash."""
    end = data.rfind(b"\n")
    return data[: end + 1].splitlines() if end >= 0 else []


class EventLog:
    """The events of one rank of a run, appended by the process that holds the rank."""

    def __init__(self, run_dir: Path, rank: int, *, durability: str = "on_close") -> None:
        self.rank = rank
        self._sync = durability
        self._lock = threading.Lock()
        path = _path(run_dir, rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(
            path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
        )
        self._seq = self._recover(path)

    def _recover(self, path: Path) -> int:
        """Drops a torn last line (so the next line starts clean); returns the next seq."""
        assert self._fd is not None
        data = path.read_bytes()
        lines = _lines(data)
        kept = sum(len(line) + 1 for line in lines)
        if kept != len(data):
            os.ftruncate(self._fd, kept)
        for line in reversed(lines):
            try:
                return int(json.loads(line)["seq"]) + 1
            except (ValueError, KeyError, TypeError):
                continue
        return 0

    def append(self, fields: Mapping[str, Any], rows: int) -> RunEvent:
        """Writes one event (fields from :func:`check_event`) and returns it."""
        with self._lock:
            if self._fd is None:
                raise InvalidArgumentError("log_event: the run's event log is closed")
            now = time.time_ns()
            event = RunEvent(rank=self.rank, seq=self._seq, time=now, rows=rows, **fields)
            os.write(self._fd, _line(event).encode("ascii"))
            if self._sync == "every_flush":
                os.fsync(self._fd)
            self._seq += 1
            return event

    def close(self) -> None:
        """Closes the file (fsynced unless the run's durability is ``none``)."""
        with self._lock:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            try:
                if self._sync != "none":
                    os.fsync(fd)
            finally:
                os.close(fd)


def event_files(run_dir: str | os.PathLike[str]) -> dict[int, Path]:
    """The event file of every rank of a run, by rank."""
    folder = Path(run_dir) / EVENTS_DIR
    out: dict[int, Path] = {}
    try:
        with os.scandir(folder) as it:
            for entry in it:
                m = _FILE.match(entry.name)
                if m:
                    out[int(m.group(1))] = Path(entry.path)
    except FileNotFoundError:
        pass
    return dict(sorted(out.items()))


def _event(rank: int, obj: Any) -> RunEvent:
    if not isinstance(obj, dict):
        raise TypeError("not an object")
    data = obj.get("data")
    return RunEvent(
        kind=str(obj["kind"]),
        time=int(obj["time"]),
        rank=rank,
        seq=int(obj["seq"]),
        rows=int(obj.get("rows") or 0),
        name=obj.get("name"),
        level=obj.get("level"),
        step=obj.get("step"),
        message=obj.get("message"),
        data=data if isinstance(data, dict) else {},
    )


def read_events(run_dir: str | os.PathLike[str]) -> list[RunEvent]:
    """Every event of a run, all ranks, ordered by ``(time, rank, seq)``.

    A torn last line (a crash while writing) is skipped silently; any other line that is
    not an event is skipped with a :class:`StoreCorruptWarning`.
    """
    events: list[RunEvent] = []
    for rank, path in event_files(run_dir).items():
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        for number, line in enumerate(_lines(data), 1):
            try:
                events.append(_event(rank, json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                warnings.warn(
                    f"{path}:{number}: not a run event ({exc}); skipped",
                    StoreCorruptWarning,
                    stacklevel=2,
                )
    events.sort(key=lambda e: (e.time, e.rank, e.seq))
    return events
