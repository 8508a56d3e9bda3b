"""Plugins: base classes, metadata, discovery through entry points, the manager.

Importing this package loads pydantic (not pyarrow); ``ferrotrack.core`` imports it lazily.
"""

from __future__ import annotations

from ferrotrack.core.plugins.backend import BackendPlugin
from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.collector import (
    CollectorPlugin,
    RunSink,
    as_collector,
    check_metrics,
    dispatch_metrics,
)
from ferrotrack.core.plugins.discovery import PluginInfo, PluginWarning, discover
from ferrotrack.core.plugins.execution import (
    ModelRun,
    PipelineBackendPlugin,
    PostprocessorPlugin,
    RunBackendPlugin,
    get_execution_plugin,
    load_execution_plugin,
)
from ferrotrack.core.plugins.framework import ActiveRunEmitter, FrameworkPlugin
from ferrotrack.core.plugins.imports import require
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.manager import PluginManager, PluginSpec
from ferrotrack.core.plugins.metadata import PluginMetadata
from ferrotrack.core.plugins.metric import MetricData, MetricSource, MetricType
from ferrotrack.core.plugins.metric_info import metric_info
from ferrotrack.core.plugins.plugin_run import PluginRun
from ferrotrack.core.plugins.processor import ProcessorPlugin
from ferrotrack.core.plugins.processors import (
    EveryNthProcessor,
    FilterProcessor,
    RenameProcessor,
    TimeDownsampleProcessor,
)

__all__ = [
    "ActiveRunEmitter",
    "BackendPlugin",
    "CollectorPlugin",
    "EveryNthProcessor",
    "FilterProcessor",
    "FrameworkPlugin",
    "MetricData",
    "MetricSource",
    "MetricType",
    "ModelRun",
    "PipelineBackendPlugin",
    "PluginBase",
    "PluginInfo",
    "PluginManager",
    "PluginMetadata",
    "PluginRun",
    "PluginSpec",
    "PluginType",
    "PluginWarning",
    "PostprocessorPlugin",
    "ProcessorPlugin",
    "RenameProcessor",
    "RunBackendPlugin",
    "RunSink",
    "TimeDownsampleProcessor",
    "as_collector",
    "check_metrics",
    "discover",
    "dispatch_metrics",
    "get_execution_plugin",
    "load_execution_plugin",
    "metric_info",
    "require",
]
