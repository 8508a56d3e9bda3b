"""Which Lightning this process uses, imported and version-checked in one place.

``lightning`` (the unified package, ``lightning.pytorch``) is preferred; ``pytorch_lightning``
is the fallback when only it is installed. Both name the same supported range. Nothing here
imports either until :func:`load` is called, so ``plugins list`` stays light.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

from ferrotrack.core.errors import MissingDependencyError
from ferrotrack.frameworks._support import DISTRIBUTION, require_version

__all__ = [
    "EXTRA",
    "MINIMUM",
    "PACKAGES",
    "PLUGIN",
    "TESTED",
    "chosen_package",
    "install_hint",
    "load",
    "supported",
]

PLUGIN = "lightning"
EXTRA = "lightning"
PACKAGES = ("lightning", "pytorch_lightning")
MINIMUM = "2.1"
TESTED = "2.6"


def install_hint() -> str:
    """What to run when no Lightning is installed."""
    return f"pip install {DISTRIBUTION}[{EXTRA}]"


def supported() -> str:
    """The supported versions, as errors and docs name them."""
    return f"lightning {MINIMUM} to {TESTED}.x (or pytorch_lightning {MINIMUM} to {TESTED}.x)"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses it, or a half-imported module
        return False


def chosen_package() -> str | None:
    """``"lightning"``, else ``"pytorch_lightning"``, whichever is installed; ``None``."""
    for package in PACKAGES:
        if _installed(package):
            return package
    return None


def load() -> ModuleType:
    """The Trainer package in use (``lightning.pytorch`` or ``pytorch_lightning``), imported
    and checked: :class:`MissingDependencyError` naming the extra when neither is installed,
    :class:`~ferrotrack.frameworks._support.UnsupportedVersionError` when it is too old."""
    package = chosen_package()
    if package is None:
        raise MissingDependencyError(
            f"framework {PLUGIN!r} needs {supported()}, which is not installed: {install_hint()}"
        )
    top = importlib.import_module(package)
    require_version(PLUGIN, top, MINIMUM, TESTED)
    return importlib.import_module("lightning.pytorch") if package == "lightning" else top
