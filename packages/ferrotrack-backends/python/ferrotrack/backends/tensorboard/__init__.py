"""The ``tensorboard`` backend: a run mirrored as TensorBoard event files (scalars, the
HParams dashboard's data, events/tags/status as text), written natively from whole Arrow
batches; and ``ferrotrack import tensorboard DIR`` (:mod:`.importer`), read natively too.

``docs/backends/tensorboard.md`` has the mapping and the format notes.
"""

from __future__ import annotations

from ferrotrack.backends.tensorboard.backend import TensorboardBackend
from ferrotrack.backends.tensorboard.config import TensorboardConfig

__all__ = ["TensorboardBackend", "TensorboardConfig"]
