"""ferrotrack.postprocess: what to do with a model run once it ran (seed 003's
postprocessors), found by name in the ``ferrotrack.postprocess`` entry-point group.

- ``noop``: checks that the model run's output folder (and expected files) exist;
- ``summary``: final, min and max of every metric, and the output files, as a dict and
  Parquet files;
- ``plots``: one PNG/SVG figure per metric, downsampled, several runs overlaid
  (``pip install ferrotrack-postprocess[plots]``);
- ``export``: points and params to Parquet or CSV.

>>> from ferrotrack.core.plugins.execution import get_execution_plugin
>>> get_execution_plugin("postprocess", "summary").process(model_run)  # doctest: +SKIP
{'success': True, 'processor': 'summary', 'run_id': ..., 'message': ..., ...}

Every ``process()`` returns a dict with ``success`` and ``message``; a failure, a bad
argument included, is ``success: False`` with ``error``, never an exception (the one
exception: ``MissingDependencyError`` when ``plots`` runs without matplotlib). Names are
imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.postprocess.base import ProcessorBase
    from ferrotrack.postprocess.config import ProcessorConfig, RunsConfig
    from ferrotrack.postprocess.errors import MetricNotFoundError
    from ferrotrack.postprocess.export import (
        ExportConfig,
        ExportPostprocessor,
        read_params,
        read_points,
    )
    from ferrotrack.postprocess.noop import NoopConfig, NoopPostprocessor
    from ferrotrack.postprocess.plots import PlotsConfig, PlotsPostprocessor
    from ferrotrack.postprocess.summary import SummaryConfig, SummaryPostprocessor

_LAZY = {
    "ProcessorBase": "ferrotrack.postprocess.base",
    "ProcessorConfig": "ferrotrack.postprocess.config",
    "RunsConfig": "ferrotrack.postprocess.config",
    "MetricNotFoundError": "ferrotrack.postprocess.errors",
    "ExportConfig": "ferrotrack.postprocess.export",
    "ExportPostprocessor": "ferrotrack.postprocess.export",
    "read_params": "ferrotrack.postprocess.export",
    "read_points": "ferrotrack.postprocess.export",
    "NoopConfig": "ferrotrack.postprocess.noop",
    "NoopPostprocessor": "ferrotrack.postprocess.noop",
    "PlotsConfig": "ferrotrack.postprocess.plots",
    "PlotsPostprocessor": "ferrotrack.postprocess.plots",
    "SummaryConfig": "ferrotrack.postprocess.summary",
    "SummaryPostprocessor": "ferrotrack.postprocess.summary",
}

__all__ = [
    "ExportConfig",
    "ExportPostprocessor",
    "MetricNotFoundError",
    "NoopConfig",
    "NoopPostprocessor",
    "PlotsConfig",
    "PlotsPostprocessor",
    "ProcessorBase",
    "ProcessorConfig",
    "RunsConfig",
    "SummaryConfig",
    "SummaryPostprocessor",
    "read_params",
    "read_points",
]

__version__: str
"""The installed version of ``ferrotrack-postprocess``; read from its metadata on first use."""


__getattr__ = lazy_getattr(globals(), _LAZY, distribution="ferrotrack-postprocess")
