"""Claiming a rank: one writer per (run, rank), found without a coordinator.

Each writer holds an exclusive ``flock`` on ``<run>/.locks/rank-<r>``; the kernel drops
it when the process dies, so a crashed writer never blocks its successor.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from ferrotrack.core.errors import RankInUseError

MAX_RANK = 1 << 20


class RankClaim:
    """An exclusive claim on one rank of a run, released by :meth:`release` or process exit."""

    def __init__(self, rank: int, handle: IO[bytes]) -> None:
        self.rank = rank
        self._handle: IO[bytes] | None = handle

    def release(self) -> None:
        """Gives the rank back."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _try(run_dir: Path, rank: int) -> RankClaim | None:
    locks = run_dir / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    # Read-only: an open lock file must not keep the file system from turning read-only.
    fd = os.open(locks / f"rank-{rank}", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    handle = os.fdopen(fd, "rb")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return RankClaim(rank, handle)


def claim_rank(run_dir: Path, rank: int) -> RankClaim:
    """Claims ``rank``; raises :class:`RankInUseError` if a live process writes it."""
    claim = _try(run_dir, rank)
    if claim is None:
        raise RankInUseError(
            f"rank {rank} of run {run_dir.name} is being written by another process; "
            "give each process its own rank (rank=, RANK or LOCAL_RANK)"
        )
    return claim


def claim_free_rank(run_dir: Path, start: int = 1) -> RankClaim:
    """Claims the lowest free rank from ``start`` on."""
    for rank in range(start, MAX_RANK):
        claim = _try(run_dir, rank)
        if claim is not None:
            return claim
    raise RankInUseError(f"no free rank in run {run_dir.name}")
