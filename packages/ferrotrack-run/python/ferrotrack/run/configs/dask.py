"""The dask backend's config: a ``LocalCluster`` started here, or a scheduler's address.

``address=None`` starts a ``LocalCluster`` (kept for the process's later runs, see
``docs/run/dask.md``); ``"tcp://HOST:PORT"`` connects to a running scheduler.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ferrotrack.run.configs.engine import EngineConfig, check_address

__all__ = ["DaskConfig"]


class DaskConfig(EngineConfig):
    """Each model run a Dask task, on a ``LocalCluster`` or a scheduler at ``address``."""

    backend_type: Literal["dask"] = "dask"
    address: str | None = Field(
        default=None,
        description="None: a LocalCluster started here; 'tcp://HOST:PORT': a running scheduler",
    )
    n_workers: int | None = Field(
        default=None, ge=1, description="LocalCluster workers (default: Dask's choice)"
    )
    threads_per_worker: int = Field(
        default=1, ge=1, description="LocalCluster threads per worker: model runs at once each"
    )
    processes: bool = Field(default=True, description="LocalCluster workers as processes")
    cluster_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="more LocalCluster arguments (e.g. resources)"
    )
    resources: dict[str, float] = Field(
        default_factory=dict, description="abstract worker resources each task asks for"
    )

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value == "auto":
            raise ValueError("expected None or [tcp://|tls://|ucx://]HOST:PORT")
        return check_address(value, ("tcp", "tls", "ucx"))
