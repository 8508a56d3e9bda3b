"""The ``jsonl`` backend: appends typed JSON records to one file, one ``write`` per batch.

One ``write`` per delivery means a reader (``tail -f``, a log shipper) never sees half a
batch from a live process, and a crash leaves only whole lines. A write that fails part
way is cut back to where it began, so delivery's retry of the same batch writes it once.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.jsonl.config import JsonlConfig
from ferrotrack.backends.jsonl.lines import dumps, point_lines
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["JsonlBackend"]


class JsonlBackend(BackendPlugin):
    """Mirrors a run as JSON lines: its opening, statuses, points, params, tags, artifacts
    and events, in the order delivery gives them (see ``docs/backends/jsonl.md``)."""

    config: JsonlConfig

    def __init__(self) -> None:
        super().__init__()
        self._fd: int | None = None
        self._path: Path | None = None
        self._run_id = ""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``jsonl``."""
        from ferrotrack.backends import __version__

        return PluginMetadata(
            name="jsonl",
            version=__version__,
            type=PluginType.BACKEND,
            description="Append the run as JSON lines (tail -f, jq, log shippers).",
            author="ferrotrack",
            capabilities=frozenset({"metrics", "params", "tags", "artifacts", "events", "status"}),
            config_model=JsonlConfig,
        )

    @property
    def path(self) -> Path | None:
        """The file written, once the run is open."""
        return self._path

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Opens the file for appending and writes an ``open`` record with the whole params
        and tags (again on a resume or a sync: a reader takes the last one)."""
        config = self.config if self.config is not None else JsonlConfig()
        self.config = config
        self._close()
        path = config.resolve(info)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise self._error(path, err) from err
        self._path, self._run_id = path, info.run_id
        self._append(
            self._record(
                "open",
                experiment=info.experiment,
                name=info.name,
                run_dir=str(info.run_dir),
                started=info.started,
                parent=info.parent,
                status=info.status,
                tags=dict(info.tags),
                params=dict(info.params),
                rank=info.rank,
                resumed=info.resumed,
            )
        )

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """One ``point`` line per row, the whole batch in one write."""
        self._append(point_lines(batch, self._run_id, rank))
        if self.config.fsync:
            self._sync()

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """A batch without its rank (a direct call) is taken as rank 0's."""
        self.handle_points(batch, 0)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """A ``params`` record with the delta, nested as logged."""
        self._append(self._record("params", params=dict(params)))

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """A ``tags`` record with the delta (``null``: the tag was deleted)."""
        self._append(self._record("tags", tags=dict(tags)))

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """An ``artifact`` record: its name and the run's copy of it."""
        self._append(self._record("artifact", name=name, path=str(path)))

    def log_event(self, event: RunEvent) -> None:
        """An ``event`` record with every field of the event."""
        self._append(self._record("event", **dataclasses.asdict(event)))

    def set_status(self, status: str) -> None:
        """A ``status`` record with the time it was delivered; a final one is fsynced."""
        self._append(self._record("status", status=status, time=time.time_ns()))
        if status != "running":
            self._sync()

    def flush(self) -> None:
        """fsyncs the file: everything delivered is on disk."""
        self._sync()

    def stop(self) -> None:
        """Closes the file."""
        self._close()
        super().stop()

    def _record(self, kind: str, /, **fields: Any) -> bytes:
        return dumps({"type": kind, "run_id": self._run_id, **fields}).encode("utf-8")

    def _append(self, data: bytes) -> None:
        """Writes ``data`` whole or not at all (cut back on failure, for the retry)."""
        if self._fd is None:
            raise RuntimeError("backend 'jsonl': an item came before open_run")
        assert self._path is not None
        if not data:
            return
        fd, start = self._fd, os.fstat(self._fd).st_size
        done = 0
        try:
            while done < len(data):
                done += os.write(fd, data[done:])
        except OSError as err:
            if done and os.fstat(fd).st_size == start + done:  # no other writer came between
                os.ftruncate(fd, start)
            raise self._error(self._path, err) from err

    def _sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def _close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    @staticmethod
    def _error(path: Path, err: OSError) -> OSError:
        """An error naming the backend, the file and what to do (delivery retries it, then
        marks the backend degraded; the store keeps every point for ``ferrotrack sync``)."""
        reason = err.strerror or type(err).__name__
        return OSError(
            err.errno,
            f"backend 'jsonl' cannot append to {path} ({reason}): make its folder writable "
            "or set backend_configs.jsonl.path, then run `ferrotrack sync RUN --backend jsonl`",
        )
