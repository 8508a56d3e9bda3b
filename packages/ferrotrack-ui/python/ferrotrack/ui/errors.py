"""The UI's errors: one for what the user asked that is not in the store."""

from __future__ import annotations

from ferrotrack.core.errors import FerrotrackError

__all__ = ["NotFound"]


class NotFound(FerrotrackError, LookupError):
    """An unknown run, experiment, metric, artifact or log; the app answers 404 with it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
