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
    """A UUIDv7 as 32 hex digits: 48 bits of milliseconds, a 12-bit counter, 62 random bits.

    Within one process ids are strictly increasing: an id made in the same millisecond as
    the previous one (or after the clock stepped back) keeps its time and takes the next
    counter (RFC 9562, method 1; a new millisecond seeds the counter at random below
    2**11). The last 62 bits are always fresh, so two ids made in a row still differ
    early enough for short prefixes (``ferrotrack runs show 01a2...``) to tell them apart.
    """
    global _last_id
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_counter = _last_id
        if ms <= last_ms:
            ms, counter = last_ms, last_counter + 1
            if counter >> 12:
                ms, counter = ms + 1, secrets.randbits(11)
        else:
            counter = secrets.randbits(11)
        _last_id = (ms, counter)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version 7
    value |= counter << 64  # rand_a: the counter
    value |= 0b10 << 62  # RFC 9562 variant
    value |= secrets.randbits(62)
    return f"{value:032x}"
