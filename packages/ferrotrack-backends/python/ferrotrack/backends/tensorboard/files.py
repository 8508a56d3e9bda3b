"""Event files of one mirror: a new file per opening (TensorBoard reads every file of a
folder, in name order), one per rank, with errors that say what to do."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from ferrotrack.core._native import TensorboardFile

__all__ = ["EventFiles", "event_file_name"]

PREFIX = "events.out.tfevents."


def event_file_name(now_ns: int) -> str:
    """``events.out.tfevents.<seconds>.<nanoseconds>.<host>.<pid>.ferrotrack``: the time
    first, zero-padded, so that name order (TensorBoard's reading order) is time order."""
    seconds, rest = divmod(now_ns, 1_000_000_000)
    host = socket.gethostname().replace("/", "_") or "host"
    return f"{PREFIX}{seconds:010d}.{rest:09d}.{host}.{os.getpid()}.ferrotrack"


class EventFiles:
    """The files this mirror appends to, opened on first use: ``logdir`` for rank 0,
    ``logdir/rank<r>`` for rank ``r``. Never an old file: a resume or a sync adds new ones,
    so what an earlier mirror wrote is never written twice."""

    def __init__(self, logdir: Path, run_id: str, float64: bool) -> None:
        self.logdir = logdir
        self._run_id = run_id
        self._float64 = float64
        self._files: dict[int, TensorboardFile] = {}

    def folder(self, rank: int) -> Path:
        """The folder of ``rank``'s events."""
        return self.logdir if rank == 0 else self.logdir / f"rank{rank}"

    def get(self, rank: int) -> TensorboardFile:
        """``rank``'s file, created (with its folder) on first use."""
        file = self._files.get(rank)
        if file is None:
            folder = self.folder(rank)
            now = time.time_ns()
            path = folder / event_file_name(now)
            try:
                folder.mkdir(parents=True, exist_ok=True)
                file = TensorboardFile(path, float64=self._float64, wall_time=now)
            except OSError as err:
                raise self.error(path, err) from err
            self._files[rank] = file
        return file

    def opened(self) -> list[TensorboardFile]:
        """The files opened so far."""
        return list(self._files.values())

    def close(self) -> None:
        """Closes every file."""
        files, self._files = self._files, {}
        for f in files.values():
            f.close()

    def error(self, path: Path, err: OSError) -> OSError:
        """An error naming the backend, the run, the file and what to do (delivery retries
        it, then marks the backend degraded; the store keeps every point for a sync)."""
        reason = err.strerror or str(err)
        return OSError(
            err.errno,
            f"backend 'tensorboard' cannot write {path} for run {self._run_id} ({reason}): "
            "make the folder writable or set backend_configs.tensorboard.logdir, then run "
            f"`ferrotrack sync {self._run_id} --backend tensorboard`",
        )
