"""Optional dependencies, imported when a plugin first needs them, with a clear error."""

from __future__ import annotations

import importlib
from types import ModuleType

from ferrotrack.core.errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, feature: str | None = None, *, install: str | None = None) -> ModuleType:
    """``module`` imported, or :class:`MissingDependencyError` naming ``feature`` and what
    to install (``install``, by default ``pip install <top-level module>``).

    Plugins call it in ``initialize``/``start``, never at import time, so that discovery
    stays light and a missing library only disables the plugin that needs it.

    >>> require("json", "JSON export").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = exc.name or module
        if missing.split(".")[0] != module.split(".", maxsplit=1)[0]:
            raise  # the module exists but one of its own imports failed: not ours to hide
        hint = install or f"pip install {module.split('.', maxsplit=1)[0]}"
        what = feature or "this feature"
        raise MissingDependencyError(
            f"{what} needs the optional dependency {module!r}, which is not installed: {hint}"
        ) from exc
