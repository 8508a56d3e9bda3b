"""Test helpers for ferrotrack and the packages built on it (imported by tests only).

>>> @pytest.fixture                                                     # doctest: +SKIP
... def root(tmp_path, monkeypatch):
...     yield from isolated_root(tmp_path, monkeypatch)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ferrotrack.core.active import current

if TYPE_CHECKING:
    import pyarrow as pa
    import pytest

__all__ = ["isolated_root", "point_batch"]

_PROCESS_VARIABLES = ("FERROTRACK_RUN_DIR", "RANK", "LOCAL_RANK", "FERROTRACK_RANK")
"""Variables that would attach a test's runs to another run or rank."""


def isolated_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, chdir: bool = False
) -> Iterator[Path]:
    """An empty store root under ``tmp_path``, set as ``FERROTRACK_ROOT``, with no rank or
    run inherited from the environment; with ``chdir``, the working folder too, so no
    settings file above it is read. Runs still open when the test ends are finished."""
    store = tmp_path / "store"
    if chdir:
        monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FERROTRACK_ROOT", str(store))
    for var in _PROCESS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    yield store
    while (run := current()) is not None:
        run.finish()


def point_batch(rows: Sequence[tuple[str, int, int, float]]) -> pa.RecordBatch:
    """A batch in the store's schema, as a backend receives it, from ``(name, step,
    timestamp ns, value)`` rows (the names dictionary-encoded, as the store writes them)."""
    import pyarrow as pa

    from ferrotrack.core.plugins.arrow import point_schema

    names = pa.array([r[0] for r in rows], pa.string()).dictionary_encode()
    return pa.RecordBatch.from_arrays(
        [
            names.cast(pa.dictionary(pa.uint32(), pa.string())),
            pa.array([r[1] for r in rows], pa.int64()),
            pa.array([r[2] for r in rows], pa.timestamp("ns", tz="UTC")),
            pa.array([r[3] for r in rows], pa.float64()),
        ],
        schema=point_schema(),
    )
