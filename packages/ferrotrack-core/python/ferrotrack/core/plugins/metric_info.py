"""What each metric of a run is, when a plugin logged it: ``<run>/metrics.json``.

The store's points are ``name, step, timestamp, value``; a point from a collector or a
framework also has a type (``system``), a source (``system``, ``jax_framework``) and
metadata. They are the same for every point of a name, so they are kept once per name in
one small JSON file beside ``run.json`` (``docs/format.md``), written only when a name is new
or its facts change: the logging hot path (``run.log``) never touches it. Several processes
(ranks) of one run merge into it under a file lock, written atomically (temp file, rename).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["METRIC_INFO_FILE", "metric_info", "record_metric_info"]

METRIC_INFO_FILE = "metrics.json"

_lock = threading.Lock()
_written: dict[str, dict[str, dict[str, Any]]] = {}


def _fresh_lock_in_child() -> None:
    """A forked child gets a free lock: another thread of the parent may have held it at
    the fork, and no thread of the child would ever release it."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_lock_in_child)
"""Per run folder, what this process already wrote (so a known name costs a dict lookup)."""


def metric_info(run_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """``{name: {"type": ..., "source": ..., "metadata": {...}}}`` for the metrics of a run
    that a collector or a framework logged; a name absent here was logged by user code
    (a plain scalar). Empty when the run has none.

    >>> metric_info("ferrotrack-runs/experiment=demo/run=0193...")  # doctest: +SKIP
    {'sys/cpu': {'type': 'system', 'source': 'system', 'metadata': {'unit': '%'}}}
    """
    path = Path(run_dir) / METRIC_INFO_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        from ferrotrack.core.errors import StoreCorruptError

        raise StoreCorruptError(f"{path} is not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}


def record_metric_info(
    run_dir: str | os.PathLike[str], infos: Mapping[str, dict[str, Any]]
) -> None:
    """Merges ``infos`` into the run's ``metrics.json``, if anything in them is new.

    Values must be JSON-ready (metadata that is not is written as its ``str``).
    """
    key = os.fspath(run_dir)
    with _lock:
        known = _written.setdefault(key, {})
        fresh = {name: info for name, info in infos.items() if known.get(name) != info}
        if not fresh:
            return
        folder = Path(key)
        with _file_lock(folder / (METRIC_INFO_FILE + ".lock")):
            merged = metric_info(folder)
            merged.update(fresh)
            _write_atomic(folder / METRIC_INFO_FILE, merged)
        known.update(fresh)


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    text = json.dumps(data, indent=1, sort_keys=True, default=str)
    fd, tmp = tempfile.mkstemp(prefix=".metrics-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (``flock``; none where the OS lacks it)."""
    try:
        import fcntl
    except ImportError:  # Windows: one writer per run folder is the common case there
        yield
        return
    with path.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
