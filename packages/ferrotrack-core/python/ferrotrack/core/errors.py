"""The one hierarchy of ferrotrack errors.

Every error raised on purpose by ferrotrack derives from :class:`FerrotrackError`
and also from the built-in class a Python user would expect (``ValueError``,
``TypeError``, ``OSError``...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "FerrotrackError",
    "InvalidArgumentError",
    "InvalidMetricError",
    "InvalidValueError",
    "MissingDependencyError",
    "RankInUseError",
    "RunClosedError",
    "RunExistsError",
    "RunNotFoundError",
    "StoreCorruptError",
    "StoreWriteError",
]


class FerrotrackError(Exception):
    """Base class of every ferrotrack error."""


class InvalidArgumentError(FerrotrackError, ValueError):
    """An argument had the wrong shape or value (arrays of different lengths...)."""


class InvalidMetricError(InvalidArgumentError):
    """A metric name was empty, too long, or otherwise unusable."""


class InvalidValueError(FerrotrackError, TypeError):
    """A value had the wrong type (a metric value that is not a number...)."""


class RunClosedError(FerrotrackError, RuntimeError):
    """The run (or its writer) was finished before this call."""


class RunExistsError(FerrotrackError, FileExistsError):
    """A run with this id already exists and ``resume=True`` was not given."""


class RankInUseError(FerrotrackError, RuntimeError):
    """Another live process writes this rank of the run."""


class RunNotFoundError(FerrotrackError, LookupError):
    """No run matches the id or name given."""


class StoreWriteError(FerrotrackError, OSError):
    """Writing to the store failed (full disk, read-only folder). Logged points are kept."""


class StoreCorruptError(FerrotrackError):
    """A file in the store is not what ferrotrack wrote."""


class MissingDependencyError(FerrotrackError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""
