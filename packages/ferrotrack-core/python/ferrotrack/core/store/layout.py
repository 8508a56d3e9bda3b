"""Paths of the store, as specified in ``docs/format.md``."""

from __future__ import annotations

import os
import secrets
import threading
import time
from pathlib import Path

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.settings.lookup import DEFAULT_ROOT, lookup_root

_FORBIDDEN = frozenset("/\\=\0")
MAX_EXPERIMENT_CHARS = 200


__all__ = [
    "DEFAULT_ROOT",
    "experiment_dir",
    "new_run_id",
    "resolve_root",
    "run_dir",
    "validate_experiment",
]


def resolve_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The store root: ``root`` if given, else ``$FERROTRACK_ROOT``, else the ``root`` of the
    nearest settings file (relative to that file's folder), else ``./ferrotrack-runs``.

    Every writer, reader and CLI command resolves the root here, so they all see one store.
    """
    return lookup_root(root)


def validate_experiment(name: str) -> str:
    """Returns ``name`` if it can be a folder name in the store; raises otherwise."""
    if not isinstance(name, str):
        raise InvalidArgumentError(f"experiment: expected a str, got {type(name).__name__}")
    bad = sorted(set(name) & _FORBIDDEN)
    if not name or name in {".", ".."} or len(name) > MAX_EXPERIMENT_CHARS or bad:
        raise InvalidArgumentError(
            f"experiment {name!r}: expected 1-{MAX_EXPERIMENT_CHARS} characters, "
            f"none of '/', '\\\\', '=', NUL, and not '.' or '..'"
            + (f" (found {bad!r})" if bad else "")
        )
    return name


def experiment_dir(root: Path, experiment: str) -> Path:
    """The folder of an experiment."""
    return root / f"experiment={validate_experiment(experiment)}"


def run_dir(root: Path, experiment: str, run_id: str) -> Path:
    """The folder of a run."""
    return experiment_dir(root, experiment) / f"run={run_id}"


_id_lock = threading.Lock()
_last_id: tuple[int, int] = (0, 0)


def new_run_id() -> str:
    """A UUIDv7 as 32 hex digits: 48 bits of milliseconds, then 74 random bits; sorts by time.

    Within one process ids are strictly increasing: an id made in the same millisecond as
    the previous one (or after the clock stepped back) takes the previous one's time and
    random bits plus one (RFC 9562, method 2), so ids made in a row sort in that order.
    """
    global _last_id
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        rand = secrets.randbits(74)
        last_ms, last_rand = _last_id
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
            if rand >> 74:
                ms, rand = ms + 1, 0
        _last_id = (ms, rand)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= (rand >> 62) << 64  # 12 bits of rand_a
    value |= 0b10 << 62  # RFC 9562 variant
    value |= rand & ((1 << 62) - 1)
    return f"{value:032x}"
