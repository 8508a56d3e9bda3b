"""The local backend's config: a command, optionally under ``mpiexec -n``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ferrotrack.run.configs.base import CommandConfig

__all__ = ["LocalConfig"]


class LocalConfig(CommandConfig):
    """A subprocess on this machine, in its own process group."""

    backend_type: Literal["local"] = "local"
    mpiexec: str | None = Field(default=None, description="e.g. 'mpiexec'; put before the command")
    processes: int | None = Field(default=None, ge=1, description="mpiexec -n PROCESSES")
