"""The local backend's config: a command, optionally under ``mpiexec -n``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ferrotrack.run.configs.base import BackendConfig

__all__ = ["LocalConfig"]


class LocalConfig(BackendConfig):
    """A subprocess on this machine, in its own process group."""

    backend_type: Literal["local"] = "local"
    command: str | list[str] | None = Field(
        default=None,
        description="a string runs through /bin/sh -c, a list as argv (default: the model run's)",
    )
    mpiexec: str | None = Field(default=None, description="e.g. 'mpiexec'; put before the command")
    processes: int | None = Field(default=None, ge=1, description="mpiexec -n PROCESSES")
