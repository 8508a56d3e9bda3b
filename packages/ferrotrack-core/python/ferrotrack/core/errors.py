"""The one hierarchy of ferrotrack errors.

Every error raised on purpose by ferrotrack derives from :class:`FerrotrackError`
and also from the built-in class a Python user would expect (``ValueError``,
``TypeError``, ``OSError``...), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "FerrotrackError",
    "FerrotrackWarning",
    "InvalidArgumentError",
    "InvalidMetricError",
    "InvalidValueError",
    "MissingDependencyError",
    "PermanentBackendError",
    "PluginWarning",
    "RankInUseError",
    "RunClosedError",
    "RunExistsError",
    "RunNotFoundError",
    "StoreCorruptError",
    "StoreCorruptWarning",
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


class PermanentBackendError(FerrotrackError):
    """Raised by a backend for data it will never accept (a rejected value or name).

    The orchestrator skips that item, counts it, and moves on; any other exception is taken
    as transient (a network blip) and retried with backoff.
    """


class FerrotrackWarning(UserWarning):
    """Base class of every ferrotrack warning."""


class PluginWarning(FerrotrackWarning):
    """A plugin was set aside (failed import, bad metadata, failed start...)."""


class StoreCorruptWarning(FerrotrackWarning):
    """A file of the store could not be read; what it held is missing from the result."""
