"""The slurm backend's config: what ``sbatch`` is asked for, and how the job is watched.

Checked before anything is submitted, so a wrong field fails fast with its name rather than
as an ``sbatch`` error after the run was opened.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from ferrotrack.run.configs.base import CommandConfig

__all__ = [
    "RESERVED_OPTIONS",
    "RESERVED_SHORT",
    "SlurmConfig",
    "parse_time_limit",
    "reserved_option",
]

RESERVED_OPTIONS = frozenset(
    {"--array", "--output", "--error", "--open-mode", "--parsable", "--wrap", "--chdir"}
    | {"--export", "--hold", "--wait"}
)
"""sbatch options the backend sets itself (where output goes, arrays, how the id is read,
the working folder that tags a submission, the environment) or that would keep the job
from ever running or sbatch from returning (``--hold``, ``--wait``). Refused also when
abbreviated (sbatch takes any unambiguous prefix: ``--out=``, ``--arr=``)."""
RESERVED_SHORT = frozenset({"-a", "-o", "-e", "-D", "-H", "-W"})
"""Their one-letter forms, refused also with the value attached (``-ofile``)."""


def reserved_option(option: str) -> str | None:
    """The reserved sbatch option that ``option`` (``--name[=value]``, ``-xVALUE``) is,
    or abbreviates; ``None`` when it is none of them."""
    name = option.split("=", 1)[0]
    if name.startswith("--"):
        if len(name) > 2:
            for reserved in sorted(RESERVED_OPTIONS):
                if reserved.startswith(name):
                    return reserved
        return None
    if name[:2] in RESERVED_SHORT:
        return name[:2]
    return None


_TIME = re.compile(r"^(?:(?P<days>\d+)-)?(?P<h>\d+)(?::(?P<m>\d{1,2}))?(?::(?P<s>\d{1,2}))?$")
_MEM = re.compile(r"^\d+[KMGT]?$")


def parse_time_limit(value: int | str) -> int:
    """Seconds of a Slurm time limit: minutes (``90``), ``MM:SS``, ``HH:MM:SS``, ``D-HH``,
    ``D-HH:MM`` or ``D-HH:MM:SS`` (sbatch's forms); ``ValueError`` saying what was expected."""
    expected = "expected minutes (e.g. 90) or 'HH:MM:SS' / 'D-HH:MM:SS'"
    if isinstance(value, bool):
        raise ValueError(f"{expected}, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{expected} of at least 1 minute, got {value}")
        return value * 60
    match = _TIME.match(value.strip())
    if match is None:
        raise ValueError(f"{expected}, got {value!r}")
    days, first, second, third = (match.group(k) for k in ("days", "h", "m", "s"))
    if days is not None:  # D-HH[:MM[:SS]]
        hours, minutes, seconds = int(first), int(second or 0), int(third or 0)
        total = int(days) * 86400 + hours * 3600 + minutes * 60 + seconds
        limits = [(hours, 24, "hours"), (minutes, 60, "minutes"), (seconds, 60, "seconds")]
    elif third is not None:  # HH:MM:SS
        minutes, seconds = int(second), int(third)
        total = int(first) * 3600 + minutes * 60 + seconds
        limits = [(minutes, 60, "minutes"), (seconds, 60, "seconds")]
    elif second is not None:  # MM:SS
        seconds = int(second)
        total = int(first) * 60 + seconds
        limits = [(seconds, 60, "seconds")]
    else:  # minutes
        total = int(first) * 60
        limits = []
    for amount, bound, unit in limits:
        if amount >= bound:
            raise ValueError(f"{expected}; {unit} must be below {bound} in {value!r}")
    if total < 1:
        raise ValueError(f"{expected}, and more than zero, got {value!r}")
    return total


class SlurmConfig(CommandConfig):
    """A batch job (or, for several model runs, one array job) on a Slurm cluster.

    ``timeout`` (or the model run's) counts from the moment the job starts running, not
    from submission; when ``time_limit`` is not set it also becomes the job's ``--time``
    (rounded up to minutes, plus one), so Slurm ends the job even if this process dies.
    """

    backend_type: Literal["slurm"] = "slurm"
    partition: str | None = Field(
        default=None, description="sbatch --partition (default: the cluster's)"
    )
    time_limit: int | str | None = Field(
        default=None, description="sbatch --time: minutes, or 'HH:MM:SS' / 'D-HH:MM:SS'"
    )
    nodes: int = Field(default=1, ge=1, description="sbatch --nodes")
    ntasks: int = Field(default=1, ge=1, description="sbatch --ntasks")
    cpus_per_task: int = Field(default=1, ge=1, description="sbatch --cpus-per-task")
    mem: str | None = Field(
        default=None, description="sbatch --mem per node: megabytes, or with K/M/G/T (e.g. '4G')"
    )
    job_name: str | None = Field(
        default=None, description="sbatch --job-name (default: ferrotrack-<model run id>)"
    )
    account: str | None = Field(default=None, description="sbatch --account")
    qos: str | None = Field(default=None, description="sbatch --qos")
    additional_options: list[str] = Field(
        default_factory=list,
        description="more sbatch options, each '--name' or '--name=value' (e.g. '--gres=gpu:1')",
    )
    poll_interval: float = Field(
        default=1.0,
        gt=0,
        le=300,
        description="seconds between asking the controller (scontrol) about the job",
    )
    max_array_concurrency: int | None = Field(
        default=None,
        ge=1,
        description="array jobs: at most this many tasks at once (--array=...%N)",
    )

    @field_validator("time_limit")
    @classmethod
    def _check_time(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            parse_time_limit(value)
        return value

    @field_validator("mem")
    @classmethod
    def _check_mem(cls, value: str | None) -> str | None:
        if value is not None and not _MEM.match(value.strip().upper()):
            raise ValueError(
                f"expected megabytes or a size with K/M/G/T (e.g. '4G'), got {value!r}"
            )
        return None if value is None else value.strip().upper()

    @field_validator("partition", "job_name", "account", "qos")
    @classmethod
    def _one_word(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError(f"expected a non-empty name without spaces, got {value!r}")
        return value

    @field_validator("additional_options")
    @classmethod
    def _check_options(cls, value: list[str]) -> list[str]:
        for option in value:
            name = option.split("=", 1)[0]
            if not option.startswith("-") or not name.strip("-"):
                raise ValueError(f"expected sbatch options like '--gres=gpu:1', got {option!r}")
            reserved = reserved_option(option)
            if reserved is not None:
                raise ValueError(
                    f"{name} ({reserved}) is set by the slurm backend itself or would keep the "
                    "job from running (output goes to the run's logs/, arrays come from "
                    "run_many); remove it"
                )
        return value

    @model_validator(mode="after")
    def _no_grace(self) -> Self:
        if "grace" in self.model_fields_set:
            raise ValueError(
                "grace: the slurm backend cannot set it; the cluster's KillWait is the time "
                "between SIGTERM and SIGKILL of a cancelled job; remove it"
            )
        return self

    def time_limit_seconds(self) -> int | None:
        """``time_limit`` in seconds, or ``None``."""
        return None if self.time_limit is None else parse_time_limit(self.time_limit)
