"""Settings of the ``jsonl`` backend (``backend_configs.jsonl`` in ferrotrack's settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ferrotrack.core.records import RunInfo

__all__ = ["DEFAULT_NAME", "JsonlConfig"]

DEFAULT_NAME = "mirror.jsonl"
"""The file written in the run's folder when no ``path`` is given."""


class JsonlConfig(BaseModel):
    """Where the lines go, and how hard each batch is pushed to disk.

    ``path`` may hold ``{run_id}``, ``{experiment}`` and ``{name}`` (one file per run in a
    folder a log shipper watches); a relative path is taken from the run's folder, so that
    a live run and a later ``ferrotrack sync`` from elsewhere write the same file.
    """

    model_config = ConfigDict(extra="forbid")

    path: Path | None = None
    """The file to append to; default ``<run folder>/mirror.jsonl``."""
    fsync: bool = False
    """``fsync`` after every batch (slower; lines survive a power cut, not only a crash).
    Without it, each batch is one ``write`` (visible to ``tail -f`` at once) and the file is
    fsynced on ``flush()``, when a lane has delivered everything."""

    def resolve(self, info: RunInfo) -> Path:
        """The file for the run ``info`` describes."""
        if self.path is None:
            return info.run_dir / DEFAULT_NAME
        text = str(self.path).format(run_id=info.run_id, experiment=info.experiment, name=info.name)
        path = Path(text).expanduser()
        return path if path.is_absolute() else info.run_dir / path
