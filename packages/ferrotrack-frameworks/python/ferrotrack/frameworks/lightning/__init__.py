"""Lightning: ``FerrotrackLogger`` (a Lightning ``Logger``) and ``LightningFramework`` (the
``self.log`` capture, ``frameworks=["lightning"]``).

>>> from ferrotrack.frameworks.lightning import FerrotrackLogger       # doctest: +SKIP
>>> trainer = Trainer(logger=FerrotrackLogger(experiment="mnist"))     # doctest: +SKIP

Importing this package never imports Lightning or torch: ``FerrotrackLogger`` is defined
on first use of the name (subclassing Lightning's ``Logger`` needs Lightning), and
``LightningFramework`` imports Lightning only when it starts. Supported: lightning 2.1 to
2.6.x, or pytorch_lightning in the same range when only it is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.frameworks.lightning._logger import FerrotrackLogger
    from ferrotrack.frameworks.lightning.options import LoggerOptions
    from ferrotrack.frameworks.lightning.params import to_params
    from ferrotrack.frameworks.lightning.plugin import LightningFramework

_LAZY = {
    "FerrotrackLogger": "ferrotrack.frameworks.lightning._logger",
    "LightningFramework": "ferrotrack.frameworks.lightning.plugin",
    "LoggerOptions": "ferrotrack.frameworks.lightning.options",
    "to_params": "ferrotrack.frameworks.lightning.params",
}

__all__ = ["FerrotrackLogger", "LightningFramework", "LoggerOptions", "to_params"]

__getattr__ = lazy_getattr(globals(), _LAZY)


def __dir__() -> list[str]:
    return __all__
