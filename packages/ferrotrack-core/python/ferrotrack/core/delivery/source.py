"""What delivery reads from the store: ranks, their sizes, ranges of points, who is live.

Reading a range never loads a whole rank (the native ranged read decodes only the segments
that overlap it), so a lagging backend catching up costs at most one batch of memory.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ferrotrack.core.store.catalog import live_segments

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["idle_rank", "read_points", "store_ranks", "store_rows"]


def store_ranks(run_dir: Path) -> list[int]:
    """The ranks that have metric segments in a run."""
    live, _ = live_segments(Path(run_dir))
    return sorted({seg.rank for seg, _ in live})


def store_rows(run_dir: Path, rank: int) -> int | None:
    """Points of ``rank`` in the store, from its summary (cheap, read by the store crate,
    which rebuilds an unreadable summary from the segments); ``None`` when the rank has
    no summary."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from ferrotrack.core._native import read_summaries

    table = pa.table(read_summaries([str(run_dir)], columns=["count"]))
    counts = table.filter(pc.equal(table.column("rank"), rank)).column("count")
    if len(counts) == 0:
        return None
    return int(pc.sum(counts).as_py() or 0)


def read_points(run_dir: Path, rank: int, start: int, limit: int) -> pa.Table:
    """Points ``start .. start + limit`` of ``rank``, in order (fewer at the store's end)."""
    import pyarrow as pa

    from ferrotrack.core._native import read_run

    return pa.table(read_run(run_dir, rank, start=start, limit=limit))


@contextmanager
def idle_rank(run_dir: Path, rank: int) -> Iterator[bool]:
    """Holds the rank's lock (``.locks/rank-<r>``, the one its writer holds) while the
    block runs, and yields ``True``; yields ``False`` when a live process holds it.

    ``ferrotrack sync`` delivers a rank only inside this, so a writer that resumes the
    rank meanwhile waits for it instead of delivering the same points.
    """
    locks = Path(run_dir) / ".locks"
    try:
        locks.mkdir(exist_ok=True)
        fd = os.open(locks / f"rank-{rank}", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:  # a read-only store: nobody can be writing it
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)
