"""ferrotrack.core: log metrics from tight loops into a crash-safe Parquet store.

>>> import ferrotrack.core as ft
>>> with ft.start_run("baseline", experiment="demo", params={"lr": 1e-3}) as run:  # doctest: +SKIP
...     for step in range(100_000):
...         run.log("train/loss", 1.0 / (step + 1), step)
>>> ft.runs(experiment="demo")  # doctest: +SKIP

Analysis names (``runs``, ``metrics``, ...) load polars only when first used, so that
``import ferrotrack.core`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core import errors
from ferrotrack.core._lazy import lazy_getattr
from ferrotrack.core._native import FORMAT_VERSION, MAX_NAME_BYTES, MetricWriter
from ferrotrack.core.run import (
    Run,
    active_run,
    attach_run,
    finish,
    log,
    log_event,
    log_params,
    start_run,
)

if TYPE_CHECKING:
    from ferrotrack.core.analysis import (
        best_run,
        downsample,
        events,
        final_values,
        metrics,
        runs,
        wide,
    )
    from ferrotrack.core.delivery.orchestrator import Orchestrator
    from ferrotrack.core.delivery.replay import sync_run
    from ferrotrack.core.plugins import (
        BackendPlugin,
        CollectorPlugin,
        FrameworkPlugin,
        MetricData,
        MetricType,
        PluginManager,
        PluginMetadata,
        PluginType,
        ProcessorPlugin,
    )
    from ferrotrack.core.plugins.metric_info import metric_info
    from ferrotrack.core.settings import FerrotrackSettings

_LAZY = {
    "runs": "ferrotrack.core.analysis",
    "metric_info": "ferrotrack.core.plugins.metric_info",
    "metrics": "ferrotrack.core.analysis",
    "best_run": "ferrotrack.core.analysis",
    "final_values": "ferrotrack.core.analysis",
    "wide": "ferrotrack.core.analysis",
    "downsample": "ferrotrack.core.analysis",
    "events": "ferrotrack.core.analysis",
    "BackendPlugin": "ferrotrack.core.plugins",
    "CollectorPlugin": "ferrotrack.core.plugins",
    "FrameworkPlugin": "ferrotrack.core.plugins",
    "ProcessorPlugin": "ferrotrack.core.plugins",
    "MetricData": "ferrotrack.core.plugins",
    "MetricType": "ferrotrack.core.plugins",
    "PluginManager": "ferrotrack.core.plugins",
    "PluginMetadata": "ferrotrack.core.plugins",
    "PluginType": "ferrotrack.core.plugins",
    "Orchestrator": "ferrotrack.core.delivery.orchestrator",
    "FerrotrackSettings": "ferrotrack.core.settings",
    "sync_run": "ferrotrack.core.delivery.replay",
}

__all__ = [
    "FORMAT_VERSION",
    "MAX_NAME_BYTES",
    "BackendPlugin",
    "CollectorPlugin",
    "FerrotrackSettings",
    "FrameworkPlugin",
    "MetricData",
    "MetricType",
    "MetricWriter",
    "Orchestrator",
    "PluginManager",
    "PluginMetadata",
    "PluginType",
    "ProcessorPlugin",
    "Run",
    "active_run",
    "attach_run",
    "best_run",
    "downsample",
    "errors",
    "events",
    "final_values",
    "finish",
    "log",
    "log_event",
    "log_params",
    "metric_info",
    "metrics",
    "runs",
    "start_run",
    "sync_run",
    "wide",
]


__version__: str
"""The installed version of ``ferrotrack-core``; read from its metadata on first use, so
that ``import ferrotrack.core`` does not pay for ``importlib.metadata``."""


__getattr__ = lazy_getattr(globals(), _LAZY, distribution="ferrotrack-core")
