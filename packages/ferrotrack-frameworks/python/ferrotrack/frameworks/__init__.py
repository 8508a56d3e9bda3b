"""ferrotrack.frameworks: what PyTorch's and tensorboardX's ``SummaryWriter``, a Lightning
``Trainer`` and a Transformers ``Trainer`` log also lands in the active ferrotrack run.

>>> import ferrotrack.core as ft
>>> with ft.start_run("mlp", frameworks=["pytorch"]) as run:  # doctest: +SKIP
...     writer.add_scalar("train/loss", 0.5, 1)   # also run.log("train/loss", 0.5, step=1)

Each public name is imported on first use: importing the package never imports torch,
Lightning or Transformers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.frameworks.lightning import FerrotrackLogger, LightningFramework
    from ferrotrack.frameworks.pytorch import PytorchFramework
    from ferrotrack.frameworks.transformers import FerrotrackCallback, TransformersFramework

_LAZY = {
    "PytorchFramework": "ferrotrack.frameworks.pytorch",
    "TransformersFramework": "ferrotrack.frameworks.transformers",
    "FerrotrackCallback": "ferrotrack.frameworks.transformers",
    "LightningFramework": "ferrotrack.frameworks.lightning",
    "FerrotrackLogger": "ferrotrack.frameworks.lightning",
}

__all__ = [
    "FerrotrackCallback",
    "FerrotrackLogger",
    "LightningFramework",
    "PytorchFramework",
    "TransformersFramework",
]

__getattr__ = lazy_getattr(globals(), _LAZY, distribution="ferrotrack-frameworks")


def __dir__() -> list[str]:
    return __all__
