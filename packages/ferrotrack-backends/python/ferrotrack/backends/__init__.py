"""ferrotrack backends: plugins that mirror a run elsewhere (a JSON-lines file today; MLflow,
TensorBoard, W&B, ClearML, Aim and SQL to come), one subpackage per backend.

Each backend is declared under the ``ferrotrack.backends`` entry-point group, so naming it
is enough: ``ferrotrack.core.start_run(backends=["jsonl"])``. Importing this package loads
nothing heavy: a backend's own libraries are imported inside it, when it is used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__"]

__version__: str
"""The installed version of ``ferrotrack-backends``; read from its metadata on first use."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ferrotrack-backends")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = found = _version()
        return found
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
