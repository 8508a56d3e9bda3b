"""What every run backend's config has: a timeout, env vars, a working folder, a grace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.yaml_scalars import env_strings

__all__ = ["BackendConfig", "CommandConfig", "config_error"]


class BackendConfig(BaseModel):
    """Base of the backend configs; each subclass fixes ``backend_type`` to its name.

    A field set here overrides the model run's own (``timeout``, ``env_vars`` add to the
    model run's, ``work_dir``). Unknown keys are refused.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend_type: str
    timeout: float | None = Field(
        default=None, gt=0, description="seconds; then SIGTERM, grace, SIGKILL"
    )
    env_vars: dict[str, str] = Field(
        default_factory=dict, description="added to the model run's (values are not recorded)"
    )
    work_dir: Path | None = Field(
        default=None, description="working folder (default: the model run's folder)"
    )
    grace: float = Field(default=5.0, ge=0, description="seconds between SIGTERM and SIGKILL")

    @field_validator("env_vars", mode="before")
    @classmethod
    def _env_as_text(cls, value: Any) -> Any:
        return env_strings(value)  # OMP_NUM_THREADS: 4 in YAML is meant as "4"

    def recorded(self) -> dict[str, Any]:
        """What the ferrotrack run keeps of this config: env var values are left out
        (they may hold secrets), their names kept."""
        data = self.model_dump(mode="json")
        data["env_vars"] = sorted(self.env_vars)
        return data


class CommandConfig(BackendConfig):
    """A backend that runs a command of its own choosing: ``command`` overrides the model
    run's."""

    command: str | list[str] | None = Field(
        default=None,
        description="a string runs through /bin/sh -c, a list as argv (default: the model run's)",
    )


def config_error(name: str, err: ValidationError, where: str = "") -> BackendConfigError:
    """A :class:`BackendConfigError` naming each bad field of backend ``name`` and what was
    expected, never the value given (configs may hold secrets)."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<config>'}: {e['msg']}"
        for e in err.errors(include_input=False, include_url=False)
    )
    place = f" in {where}" if where else ""
    return BackendConfigError(f"backend {name!r}: invalid config{place}: {problems}")
