"""Settings of the ``wandb`` backend (``backend_configs.wandb`` in ferrotrack's settings)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from ferrotrack.core.records import RunInfo

__all__ = ["STEP_METRIC", "WandbConfig", "project_name", "safe_url"]

STEP_METRIC = "ferrotrack/step"
"""The history key holding each row's ferrotrack step: the x-axis of every mirrored metric."""

_PROJECT_BAD = re.compile(r"[/\\#?%:]")


class WandbConfig(BaseModel):
    """Where the W&B run goes and how it is reached.

    ``mode`` unset follows ``WANDB_MODE`` when that says ``online`` or ``offline`` and is
    ``offline`` otherwise: nothing leaves the machine unless asked, and ``wandb sync`` uploads
    the offline files later. ``api_key`` is only handed to ``wandb.init``; it is never
    logged, never written to ferrotrack's files, and masked in every message.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["offline", "online"] | None = None
    """``offline`` (files only) or ``online`` (a W&B server); unset: ``WANDB_MODE``, else
    offline."""
    project: str | None = None
    """The W&B project; default the run's experiment (``/\\#?%:`` become ``-``)."""
    entity: str | None = None
    """The W&B team or user; default wandb's own (``WANDB_ENTITY``, the key's default)."""
    dir: Path | None = None
    """The folder wandb writes ``wandb/<run folder>`` into; default the ferrotrack run's
    folder (a relative path is taken from it), so offline files live with the run."""
    api_key: SecretStr | None = None
    """W&B API key (online); default wandb's own lookup (``WANDB_API_KEY``, ``~/.netrc``)."""
    base_url: str | None = None
    """The W&B server (``https://api.wandb.ai`` by default, or ``WANDB_BASE_URL``)."""
    job_type: str | None = None
    """W&B ``job_type`` of the run (``train``, ``eval``…); none by default."""
    init_timeout: float = Field(default=30.0, gt=0)
    """Seconds ``wandb.init`` may wait for the server (online) before the mirror gives up."""
    shared: bool = False
    """Online only: open the run in W&B's shared mode, so that every rank's process writes
    to the one W&B run (rank 0 primary). Without it, only rank 0 (and ``ferrotrack sync``)
    may write a run."""

    def resolved_mode(self) -> str:
        """``online`` or ``offline``, after ``WANDB_MODE``."""
        if self.mode is not None:
            return self.mode
        env = os.environ.get("WANDB_MODE", "").strip().lower()
        return "online" if env in {"online", "run"} else "offline"

    def resolve_dir(self, info: RunInfo) -> Path:
        """The folder handed to wandb as ``dir`` for the run ``info`` describes."""
        if self.dir is None:
            return info.run_dir
        path = Path(self.dir).expanduser()
        return path if path.is_absolute() else info.run_dir / path


def project_name(experiment: str) -> str:
    """A W&B project name for ``experiment`` (W&B refuses ``/\\#?%:`` and over 128 chars)."""
    name = _PROJECT_BAD.sub("-", experiment).strip() or "ferrotrack"
    return name[:128]


def safe_url(url: str | None) -> str:
    """``url`` without a ``user:password@`` part, for messages."""
    if not url:
        return "W&B's default server"
    return re.sub(r"//[^/@]*@", "//***@", url)
