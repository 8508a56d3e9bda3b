"""Delivery cursors: how many points of each rank a backend has received, kept in the run.

The store is append-only per rank and compaction keeps order, so ``(rank, row index)``
addresses every point forever; ``{rank: rows_delivered}`` is therefore all a backend needs
to resume. The file ``<run>/sync/<backend>.json`` is replaced atomically.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.store.catalog import live_segments, summary_paths
from ferrotrack.core.store.jsonfile import read_json, write_json_atomic

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DeliveryCursor", "read_rank", "store_ranks", "store_rows"]

_SAFE = re.compile(r"[^A-Za-z0-9._-]")


class DeliveryCursor:
    """The persisted cursor of one backend in one run."""

    def __init__(self, run_dir: Path, backend: str) -> None:
        self.path = Path(run_dir) / "sync" / f"{_SAFE.sub('_', backend)}.json"
        self.backend = backend

    def load(self) -> tuple[dict[int, int], dict[str, Any]]:
        """``({rank: rows_delivered}, extra state)``; empty when the file does not exist."""
        data = read_json(self.path)
        ranks = {int(k): int(v) for k, v in data.get("ranks", {}).items()}
        return ranks, dict(data.get("state", {}))

    def save(self, ranks: dict[int, int], state: dict[str, Any] | None = None) -> None:
        """Writes the cursor atomically (temp file, fsync, rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {
            "backend": self.backend,
            "ranks": {str(r): n for r, n in sorted(ranks.items())},
            "state": state or {},
        }
        write_json_atomic(self.path, doc, sync=True)


def store_ranks(run_dir: Path) -> list[int]:
    """The ranks that have metric segments in a run."""
    live, _ = live_segments(Path(run_dir))
    return sorted({seg.rank for seg, _ in live})


def read_rank(run_dir: Path, rank: int) -> pa.Table:
    """Every point of one rank, in order, from the store."""
    import pyarrow as pa

    from ferrotrack.core._native import read_run

    return pa.table(read_run(run_dir, rank))


def store_rows(run_dir: Path, rank: int) -> int | None:
    """Points of ``rank`` in the store, from its summary (cheap); ``None`` if unreadable."""
    import pyarrow.parquet as pq

    path = summary_paths(Path(run_dir)).get(rank)
    if path is None:
        return None
    try:
        counts = pq.read_table(path, columns=["count"]).column("count")
    except (OSError, KeyError, ValueError):
        return None
    import pyarrow.compute as pc

    total = pc.sum(counts).as_py()
    return int(total or 0)
