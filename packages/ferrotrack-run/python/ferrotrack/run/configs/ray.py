"""The ray backend's config: where the cluster is, and what each model run's task asks for.

``address=None`` starts a local Ray instance in this process (kept for the process's later
runs, see ``docs/run/ray.md``); ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` joins
a running cluster.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from ferrotrack.run.configs.base import BackendConfig

__all__ = ["RayConfig", "check_address"]


def check_address(value: str | None, schemes: tuple[str, ...]) -> str | None:
    """``value`` when it is ``None``, ``"auto"`` or ``[SCHEME://]HOST:PORT`` with a known
    scheme; ``ValueError`` saying what is expected otherwise."""
    if value is None or value == "auto":
        return value
    scheme, sep, rest = value.rpartition("://")
    expected = f"None, 'auto' or [{'|'.join(s + '://' for s in schemes)}]HOST:PORT"
    if sep and scheme not in schemes:
        raise ValueError(f"unknown scheme {scheme!r}: expected {expected}")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected {expected}")
    return value


class RayConfig(BackendConfig):
    """Each model run a Ray task, on a local Ray instance or a cluster at ``address``."""

    backend_type: Literal["ray"] = "ray"
    address: str | None = Field(
        default=None,
        description="None: a local Ray instance started here; 'auto', 'HOST:PORT' or "
        "'ray://HOST:PORT': a running cluster",
    )
    command: str | list[str] | None = Field(
        default=None,
        description="a string runs through /bin/sh -c, a list as argv (default: the model run's)",
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
    connect_timeout: float = Field(
        default=10.0, gt=0, description="seconds to wait for a cluster at address to answer"
    )
    queue_timeout: float | None = Field(
        default=300.0,
        gt=0,
        description="seconds a task may wait for a worker before it is given up on and its run "
        "recorded failed ('never started'); None: wait as long as it takes",
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
