"""The docker backend's config: an image (or a Dockerfile to build), what runs in it, and how.

Checked before anything starts, so a wrong field fails fast with its name. Paths stay as
given (relative ones are resolved against the working folder when the model runs), so the
recorded config reads as it was written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, NamedTuple, Self

from pydantic import Field, field_validator, model_validator

from ferrotrack.run.configs.base import BackendConfig

__all__ = ["VOLUME_OPTIONS", "DockerConfig", "Volume", "parse_volume"]

VOLUME_OPTIONS = frozenset(
    {"ro", "rw", "z", "Z", "nocopy", "consistent", "cached", "delegated"}
    | {"shared", "slave", "private", "rshared", "rslave", "rprivate"}
)
"""What may follow ``host:container:`` in a volume (comma-separated), as ``docker run -v``."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CLIENT_VARIABLES = frozenset({"PATH", "HOME", "TMPDIR", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR"})
"""Variables the ``docker`` client itself reads (as do all ``DOCKER_*`` and ``LD_*``): a
build argument reaches the build through the client's environment, so one of these names
would redirect or break the client rather than reach the Dockerfile."""


class Volume(NamedTuple):
    """One ``host:container[:options]`` volume, parsed."""

    host: str
    container: str
    options: tuple[str, ...]

    @property
    def is_path(self) -> bool:
        """A host folder (bind mount) rather than a named volume: docker's own rule, a
        source with a ``/`` or starting with ``.`` or ``~`` is a path."""
        return "/" in self.host or self.host.startswith((".", "~"))

    @property
    def read_only(self) -> bool:
        return "ro" in self.options


def parse_volume(spec: str) -> Volume:
    """``host:container[:options]`` parsed; ``ValueError`` saying what was expected."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise ValueError(f"expected 'host:container[:ro]', got {spec!r}")
    host, container = parts[0], parts[1]
    if not container.startswith("/"):
        raise ValueError(f"the container path must be absolute, got {container!r} in {spec!r}")
    options = tuple(parts[2].split(",")) if len(parts) == 3 else ()
    unknown = [o for o in options if o not in VOLUME_OPTIONS]
    if unknown:
        raise ValueError(
            f"unknown volume option(s) {unknown} in {spec!r}; expected some of "
            f"{sorted(VOLUME_OPTIONS)}"
        )
    return Volume(host, container, options)


class DockerConfig(BackendConfig):
    """A container on a Docker engine (``DOCKER_HOST`` or the default socket).

    Exactly one of ``image`` or ``dockerfile``. What runs: ``executable`` (under ``mpiexec
    -n cpu`` when ``mpiexec`` is set), else the model run's command, else the image's own
    ``CMD``. ``work_dir`` here is the folder *inside* the container (relative: to the model
    run's folder); the model run's own ``work_dir`` is a host folder, mounted at its path and
    used as the working folder (default: the model run's folder, mounted at the same path).
    """

    backend_type: Literal["docker"] = "docker"
    image: str | None = Field(
        default=None, description="an image present on the engine (never pulled)"
    )
    dockerfile: Path | None = Field(
        default=None, description="a Dockerfile to build (once per content; relative: to cwd)"
    )
    build_context: Path | None = Field(
        default=None, description="the build's context folder (default: the Dockerfile's)"
    )
    build_args: dict[str, str] = Field(default_factory=dict, description="docker build --build-arg")
    executable: str | None = Field(
        default=None,
        description="what runs in the container (split like a shell line; no shell is used)",
    )
    cpu: int | None = Field(
        default=None,
        ge=1,
        description="mpiexec -n CPU, and the container's --cpus (capped at the host's CPUs)",
    )
    mpiexec: str | None = Field(
        default=None, description="e.g. 'mpiexec' or 'mpiexec --allow-run-as-root'"
    )
    volumes: list[str] = Field(
        default_factory=list,
        description="'host:container[:ro]'; a relative host path is resolved against cwd",
    )
    user: str | None = Field(default=None, description="docker run --user (default: the image's)")
    network: str = Field(default="none", description="docker run --network")
    remove: bool = Field(default=True, description="remove the container when it ends")
    init: bool = Field(
        default=True, description="docker run --init: signals reach the command (grace works)"
    )
    docker_args: list[str] = Field(
        default_factory=list, description="more docker run options, put before the image"
    )

    @field_validator("image", "executable", "mpiexec", "user", "network")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("expected a non-empty string")
        return value

    @field_validator("volumes")
    @classmethod
    def _check_volumes(cls, value: list[str]) -> list[str]:
        for spec in value:
            parse_volume(spec)
        return value

    @field_validator("env_vars", "build_args")
    @classmethod
    def _check_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"expected names of letters, digits and '_', got {bad}")
        return value

    @field_validator("build_args")
    @classmethod
    def _not_client_variables(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [
            name
            for name in value
            if name in CLIENT_VARIABLES or name.startswith(("DOCKER_", "LD_"))
        ]
        if bad:
            raise ValueError(
                f"{bad} are read by the docker client itself (DOCKER_*, LD_*, "
                f"{', '.join(sorted(CLIENT_VARIABLES))}); expected other build argument names"
            )
        return value

    def recorded(self) -> dict[str, Any]:
        """As the base's, and build argument values left out too (names kept)."""
        data = super().recorded()
        data["build_args"] = sorted(self.build_args)
        return data

    @model_validator(mode="after")
    def _one_image_source(self) -> Self:
        if (self.image is None) == (self.dockerfile is None):
            raise ValueError("set exactly one of 'image' (to run) or 'dockerfile' (to build)")
        if self.dockerfile is None and (self.build_context is not None or self.build_args):
            raise ValueError("'build_context' and 'build_args' need 'dockerfile'")
        return self
