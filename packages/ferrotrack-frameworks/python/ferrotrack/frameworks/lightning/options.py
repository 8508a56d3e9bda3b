"""The options of :class:`~ferrotrack.frameworks.lightning.FerrotrackLogger`, checked once
when the logger is made (a bad one raises there, naming the option, not mid-training)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.base import validation_problems

__all__ = ["LoggerOptions", "checked_options"]


class LoggerOptions(BaseModel):
    """What a :class:`FerrotrackLogger` is told.

    ``log_checkpoints``: ``"last"`` copies the newest checkpoint into the run's artifacts
    when training ends, ``"all"`` copies each one as it is saved, ``False`` none (a
    ``checkpoint`` event is recorded for every save in all three cases). ``per_rank``: every
    process of a distributed run logs as its own ferrotrack rank (by default only global
    rank 0 logs).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    experiment: str = Field(default="default", min_length=1)
    run_name: str | None = None
    run_id: str | None = None
    root: Path | None = None
    params: dict[str, Any] | None = None
    tags: dict[str, Any] | None = None
    log_checkpoints: Literal["last", "all", False] = "last"
    per_rank: bool = False


def checked_options(values: Mapping[str, Any]) -> LoggerOptions:
    """``values`` as :class:`LoggerOptions`, or :class:`InvalidArgumentError` naming each bad
    option (never its value: tags may hold secrets)."""
    raw = dict(values)
    if isinstance(raw.get("root"), str | os.PathLike):
        raw["root"] = Path(raw["root"])
    try:
        return LoggerOptions.model_validate(raw)
    except ValidationError as err:
        problems = validation_problems(err, "<options>")
        message = f"FerrotrackLogger (framework 'lightning'): invalid option {problems}"
    raise InvalidArgumentError(message)
