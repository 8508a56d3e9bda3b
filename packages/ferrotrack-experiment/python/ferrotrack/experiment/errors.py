"""Errors of the experiment layer, part of ``ferrotrack.core.errors``' hierarchy.

Each names what was wrong and where (the file, the key path, the trial, the callback) and
what was expected, so that a config mistake is fixed without reading a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ferrotrack.core.errors import FerrotrackError, InvalidArgumentError

__all__ = [
    "CallbackError",
    "ConfigError",
    "ExperimentError",
    "PipelineError",
    "UnknownNameError",
]


class ExperimentError(FerrotrackError):
    """Base of the experiment layer's errors."""


class ConfigError(ExperimentError, InvalidArgumentError):
    """A config file is missing, malformed, or has a key of the wrong type.

    ``file`` is the YAML file, ``key`` the dotted key path (``trials[1].settings.lr``)."""

    def __init__(self, message: str, *, file: Path | str | None = None, key: str | None = None):
        self.file = None if file is None else Path(file)
        self.key = key
        where = ", ".join(
            part
            for part in (
                None if file is None else str(file),
                None if key is None else f"key {key!r}",
            )
            if part
        )
        super().__init__(f"{where}: {message}" if where else message)


class UnknownNameError(ExperimentError, LookupError):
    """A pipeline, callback or tracker name that nothing registered; lists the known ones."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        listed = ", ".join(self.known) if self.known else "none"
        super().__init__(f"unknown {kind} {name!r}; registered {kind}s: {listed}")

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0])


class PipelineError(ExperimentError, TypeError):
    """A pipeline class that cannot be run (its ``run`` lacks ``@Pipeline.run_wrapper``)."""


class CallbackError(ExperimentError, RuntimeError):
    """A callback raised; names the callback and the hook."""
