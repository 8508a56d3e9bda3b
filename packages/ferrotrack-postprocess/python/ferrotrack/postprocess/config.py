"""Arguments shared by the processors, as pydantic models that refuse unknown keys."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ProcessorConfig", "RunsConfig"]


class ProcessorConfig(BaseModel):
    """Every processor's arguments: unknown keys are refused, so a typo is reported by
    name instead of being ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RunsConfig(ProcessorConfig):
    """Arguments of the processors that read ferrotrack runs and write files.

    With neither ``runs`` nor ``experiment``, the model run's ``tracked_run`` is read.
    ``runs`` takes ids, unique id prefixes or names (looked up within ``experiment`` when
    it is given too); ``experiment`` alone takes all of its runs.
    """

    runs: list[str] | None = Field(default=None, min_length=1)
    """Run ids (or unique prefixes, or names) to read instead of the tracked run."""
    experiment: str | None = None
    """An experiment whose runs are read (or within which ``runs`` are looked up)."""
    root: Path | None = None
    """The store where ``runs``/``experiment`` are looked up; default: the tracked run's,
    else the settings' (``FERROTRACK_ROOT``). Chosen runs are read from their own folders."""
    dest: Path | None = None
    """Folder for the files; default ``<output_dir>/<run_id>/postprocess/<processor>/``."""
