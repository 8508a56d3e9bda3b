"""The ``transformers`` framework: a Hugging Face ``Trainer`` logs into the active run.

:class:`FerrotrackCallback` (a ``TrainerCallback``) records the training arguments and the
model's config as params and the Trainer's logs as points; :class:`TransformersFramework`,
while started, gives every ``Trainer`` created in the process that callback.

This module stays light (``ferrotrack plugins list`` imports it): ``FerrotrackCallback``
and Transformers itself are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr
from ferrotrack.frameworks.transformers.plugin import TransformersFramework

if TYPE_CHECKING:
    from ferrotrack.frameworks.transformers.callback import FerrotrackCallback

__all__ = ["FerrotrackCallback", "TransformersFramework"]

__getattr__ = lazy_getattr(
    globals(), {"FerrotrackCallback": "ferrotrack.frameworks.transformers.callback"}
)


def __dir__() -> list[str]:
    return __all__
