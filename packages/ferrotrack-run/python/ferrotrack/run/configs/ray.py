"""The ray backend's config: where the cluster is, and what each model run's task asks for.

``address=None`` starts a local Ray instance in this process (kept for the process's later
runs, see ``docs/run/ray.md``); ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` joins
a running cluster.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ferrotrack.run.configs.engine import EngineConfig, check_address

__all__ = ["RayConfig"]


class RayConfig(EngineConfig):
    """Each model run a Ray task, on a local Ray instance or a cluster at ``address``."""

    backend_type: Literal["ray"] = "ray"
    address: str | None = Field(
        default=None,
        description="None: a local Ray instance started here; 'auto', 'HOST:PORT' or "
        "'ray://HOST:PORT': a running cluster",
    )
    num_cpus: float = Field(default=1.0, ge=0, description="CPUs each model run's task asks for")
    num_gpus: float = Field(default=0.0, ge=0, description="GPUs each model run's task asks for")
    resources: dict[str, float] = Field(
        default_factory=dict, description="custom Ray resources each task asks for"
    )
    runtime_env: dict[str, Any] | None = Field(
        default=None, description="Ray runtime_env of each task (e.g. working_dir, pip)"
    )
    init_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="more ray.init arguments (for a local instance: num_cpus of the cluster...)",
    )
    include_dashboard: bool = Field(
        default=False, description="start Ray's dashboard with a local instance"
    )

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        return check_address(value, ("ray",))

    @model_validator(mode="after")
    def _check_resources(self) -> RayConfig:
        """CPU and GPU are Ray's own resources: given in ``resources`` Ray refuses the task
        at submission, so they are refused here, each named (``resources.GPU``)."""
        own = [name for name in self.resources if name in ("CPU", "GPU")]
        if own:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "ray_own_resource",
                            "{name} is Ray's own resource: use num_{field} instead",
                            {"name": name, "field": name.lower() + "s"},
                        ),
                        loc=("resources", name),
                        input=self.resources[name],
                    )
                    for name in own
                ],
            )
        return self
