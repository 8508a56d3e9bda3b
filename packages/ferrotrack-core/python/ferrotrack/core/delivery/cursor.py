"""Delivery cursors: what a backend has received of a run, kept in the run's folder.

The store is append-only per rank and compaction keeps order, so ``(rank, row index)``
addresses every point forever. Each rank's position is its own file, written only by the
one process that delivers that rank (the live writer of the rank, or ``ferrotrack sync``
holding the rank's lock), so processes never overwrite each other's cursors::

    sync/<backend>/rank-<r>.json   {"rows": points delivered, "events": events delivered}
    sync/<backend>/state.json      {"backend", "state": the backend's own, "delivered": ...}

``state.json`` is shared by the ranks; it is changed under an exclusive ``flock`` on
``sync/<backend>/.lock`` by merging keys, never by replacing the whole file. The format
before per-rank files (``sync/<backend>.json``: ``{"ranks": {...}, "state": {...}}``) is
still read.
"""

from __future__ import annotations

import copy
import fcntl
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferrotrack.core.params import merge
from ferrotrack.core.store.jsonfile import read_json, write_json_atomic

__all__ = ["DeliveryCursor", "RankPosition", "Shared", "cursor_folder", "missing"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def cursor_folder(run_dir: Path, backend: str) -> Path:
    """``<run>/sync/<backend>`` (the name made safe for a file system)."""
    return Path(run_dir) / "sync" / _SAFE.sub("_", backend)


@dataclass(frozen=True)
class RankPosition:
    """How far one rank has been delivered: points (rows) and events (count)."""

    rows: int = 0
    events: int = 0


@dataclass
class Shared:
    """What the ranks share: the backend's own state and what was delivered of the run.

    ``delivered`` holds ``params`` and ``tags`` (merged, as the backend has them),
    ``artifacts`` (names) and ``status`` (the last status sent), which is how ``sync``
    sends only what is missing.
    """

    state: dict[str, Any]
    delivered: dict[str, Any]


class DeliveryCursor:
    """The persisted delivery position of one backend in one run."""

    def __init__(self, run_dir: str | Path, backend: str) -> None:
        self.run_dir = Path(run_dir)
        self.backend = backend
        self.folder = cursor_folder(self.run_dir, backend)
        self.legacy = self.folder.with_name(f"{self.folder.name}.json")

    # ---- per rank ------------------------------------------------------------------

    def rank_path(self, rank: int) -> Path:
        """``sync/<backend>/rank-<r>.json``."""
        return self.folder / f"rank-{rank}.json"

    def load_rank(self, rank: int) -> RankPosition:
        """The rank's position; from the old single file when the rank has none yet."""
        doc = read_json(self.rank_path(rank))
        if doc:
            return RankPosition(int(doc.get("rows", 0)), int(doc.get("events", 0)))
        old = read_json(self.legacy).get("ranks", {})
        return RankPosition(int(old.get(str(rank), 0)), 0)

    def save_rank(self, rank: int, position: RankPosition) -> None:
        """Replaces the rank's file atomically (temp file, fsync, rename)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        doc = {"backend": self.backend, "rank": rank, "rows": position.rows}
        doc["events"] = position.events
        write_json_atomic(self.rank_path(rank), doc, sync=True)

    def ranks(self) -> dict[int, RankPosition]:
        """Every rank with a position (new files, then the old file for the others)."""
        out: dict[int, RankPosition] = {}
        for path in self.folder.glob("rank-*.json"):
            digits = path.stem.removeprefix("rank-")
            if digits.isdigit():
                out[int(digits)] = self.load_rank(int(digits))
        for key in read_json(self.legacy).get("ranks", {}):
            if str(key).isdigit() and int(key) not in out:
                out[int(key)] = self.load_rank(int(key))
        return out

    # ---- shared by the ranks -------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the backend's lock in this run (for opening, and to change ``state.json``)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / ".lock", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def load_shared(self) -> Shared:
        """The shared file; from the old single file when there is none yet."""
        doc = read_json(self.folder / "state.json")
        if doc:
            return Shared(dict(doc.get("state", {})), dict(doc.get("delivered", {})))
        old = read_json(self.legacy)
        state = dict(old.get("state", {}))
        delivered: dict[str, Any] = {}
        if state.pop("params_sent", False):
            delivered["params"] = read_json(self.run_dir / "params.json")
        return Shared(state, delivered)

    def update_shared(
        self,
        state: Mapping[str, Any] | None = None,
        *,
        removed: frozenset[str] = frozenset(),
        delivered: Mapping[str, Any] | None = None,
        held: bool = False,
    ) -> Shared:
        """Merges keys into the shared file under the lock; returns what it holds now.

        ``state`` keys are set and ``removed`` keys deleted; other ranks' keys are kept.
        ``delivered["params"]`` and ``["tags"]`` are merged (nested), ``["artifacts"]``
        appended, ``["status"]`` replaced. ``held``: the caller is inside :meth:`locked`
        already (a second ``flock`` from this process would wait for itself).
        """
        with nullcontext() if held else self.locked():
            shared = self.load_shared()
            shared.state.update(copy.deepcopy(dict(state or {})))
            for key in removed:
                shared.state.pop(key, None)
            for key, value in (delivered or {}).items():
                if key == "params":
                    shared.delivered[key] = merge(
                        shared.delivered.get(key, {}), copy.deepcopy(dict(value))
                    )
                elif key == "tags":  # a None value is a deleted tag
                    tags = {**shared.delivered.get(key, {}), **value}
                    shared.delivered[key] = {k: v for k, v in tags.items() if v is not None}
                elif key == "health":  # per rank; "*" (a sync) replaces every entry
                    old = shared.delivered.get(key, {})
                    keep = {} if "*" in value or "state" in old else old
                    shared.delivered[key] = {**keep, **value}
                elif key == "artifacts":
                    names = list(shared.delivered.get(key, []))
                    names += [n for n in value if n not in names]
                    shared.delivered[key] = names
                else:
                    shared.delivered[key] = value
            doc = {"backend": self.backend, "state": shared.state, "delivered": shared.delivered}
            write_json_atomic(self.folder / "state.json", doc, sync=True)
            return shared


def missing_tags(whole: Mapping[str, str], sent: Mapping[str, str]) -> dict[str, str | None]:
    """The tag delta that turns ``sent`` into ``whole``: ``None`` for a deleted tag."""
    delta: dict[str, str | None] = {k: v for k, v in whole.items() if sent.get(k) != v}
    delta.update({k: None for k in sent if k not in whole})
    return delta


def missing(whole: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
    """The part of ``whole`` that ``sent`` lacks or holds differently (nested)."""
    out: dict[str, Any] = {}
    for key, value in whole.items():
        old = sent.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            inner = missing(value, old)
            if inner:
                out[key] = inner
        elif key not in sent or old != value:
            out[key] = copy.deepcopy(value)
    return out
