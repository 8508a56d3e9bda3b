"""The errors of ``ferrotrack.run``: each names what was wrong and what was expected.

They subclass core's errors, so ``except ferrotrack.core.errors.InvalidArgumentError`` (a
``ValueError``) catches bad input from any package.
"""

from __future__ import annotations

from ferrotrack.core.errors import FerrotrackError, InvalidArgumentError

__all__ = ["BackendConfigError", "ModelRunError", "RunPackageError", "TemplateError"]


class RunPackageError(FerrotrackError):
    """Base of this package's errors."""


class BackendConfigError(RunPackageError, InvalidArgumentError):
    """A backend config with an unknown key, a wrong type or a bad value (names the field)."""


class ModelRunError(RunPackageError, InvalidArgumentError):
    """A model run that cannot be built or loaded as given (names the field or file)."""


class TemplateError(RunPackageError, InvalidArgumentError):
    """An input template that cannot be rendered (names the template and the line)."""
