"""ferrotrack backends: plugins that mirror a run elsewhere (a JSON-lines file today; MLflow,
TensorBoard, W&B, ClearML, Aim and SQL to come), one subpackage per backend.

Each backend is declared under the ``ferrotrack.backends`` entry-point group, so naming it
is enough: ``ferrotrack.core.start_run(backends=["jsonl"])``. Importing this package loads
nothing heavy: a backend's own libraries are imported inside it, when it is used.
"""

from __future__ import annotations

from ferrotrack.core._lazy import lazy_getattr

__all__ = ["__version__"]

__version__: str
"""The installed version of ``ferrotrack-backends``; read from its metadata on first use."""


__getattr__ = lazy_getattr(globals(), distribution="ferrotrack-backends")
