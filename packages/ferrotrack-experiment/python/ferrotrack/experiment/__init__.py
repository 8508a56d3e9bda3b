"""ferrotrack.experiment: experiments described by a folder of YAML files, run as trials and
repeats of a ``Pipeline``, each trial run a ferrotrack run (the Experiment Manager's layer).

>>> from ferrotrack.experiment import Experiment
>>> experiment = Experiment.create("configs/my_experiment")  # doctest: +SKIP
>>> experiment.run()                                          # doctest: +SKIP
>>> experiment.results()                                      # doctest: +SKIP

Every public name is importable from here (the Experiment Manager's ``experiment_manager.…``
modules all map to ``ferrotrack.experiment``); each is imported on first use, so importing
the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.experiment.callbacks.callback import Callback
    from ferrotrack.experiment.callbacks.callback_factory import CallbackFactory
    from ferrotrack.experiment.callbacks.checkpoint import CheckpointCallback
    from ferrotrack.experiment.callbacks.early_stopping import EarlyStopping
    from ferrotrack.experiment.callbacks.metrics_tracker import MetricsTracker
    from ferrotrack.experiment.common import METRIC_NAMES, Level, Metric, RunStatus
    from ferrotrack.experiment.environment import Environment
    from ferrotrack.experiment.errors import (
        CallbackError,
        ConfigError,
        ExperimentError,
        PipelineError,
        UnknownNameError,
    )
    from ferrotrack.experiment.experiment import Experiment
    from ferrotrack.experiment.factory import Factory, FactoryRegistry, FactoryType
    from ferrotrack.experiment.outcome import ExperimentOutcome
    from ferrotrack.experiment.pipelines.pipeline import Pipeline, StopTraining
    from ferrotrack.experiment.pipelines.pipeline_factory import PipelineFactory
    from ferrotrack.experiment.serializable import YAMLSerializable
    from ferrotrack.experiment.trackers.backend_tracker import BackendTracker
    from ferrotrack.experiment.trackers.tracker import Tracker
    from ferrotrack.experiment.trackers.tracker_factory import TrackerFactory
    from ferrotrack.experiment.trackers.tracker_manager import TrackerManager

_LAZY = {
    "Callback": "ferrotrack.experiment.callbacks.callback",
    "CallbackFactory": "ferrotrack.experiment.callbacks.callback_factory",
    "CheckpointCallback": "ferrotrack.experiment.callbacks.checkpoint",
    "EarlyStopping": "ferrotrack.experiment.callbacks.early_stopping",
    "MetricsTracker": "ferrotrack.experiment.callbacks.metrics_tracker",
    "METRIC_NAMES": "ferrotrack.experiment.common",
    "Level": "ferrotrack.experiment.common",
    "Metric": "ferrotrack.experiment.common",
    "RunStatus": "ferrotrack.experiment.common",
    "Environment": "ferrotrack.experiment.environment",
    "CallbackError": "ferrotrack.experiment.errors",
    "ConfigError": "ferrotrack.experiment.errors",
    "ExperimentError": "ferrotrack.experiment.errors",
    "PipelineError": "ferrotrack.experiment.errors",
    "UnknownNameError": "ferrotrack.experiment.errors",
    "Experiment": "ferrotrack.experiment.experiment",
    "ExperimentOutcome": "ferrotrack.experiment.outcome",
    "Factory": "ferrotrack.experiment.factory",
    "FactoryRegistry": "ferrotrack.experiment.factory",
    "FactoryType": "ferrotrack.experiment.factory",
    "Pipeline": "ferrotrack.experiment.pipelines.pipeline",
    "StopTraining": "ferrotrack.experiment.pipelines.pipeline",
    "PipelineFactory": "ferrotrack.experiment.pipelines.pipeline_factory",
    "YAMLSerializable": "ferrotrack.experiment.serializable",
    "BackendTracker": "ferrotrack.experiment.trackers.backend_tracker",
    "Tracker": "ferrotrack.experiment.trackers.tracker",
    "TrackerFactory": "ferrotrack.experiment.trackers.tracker_factory",
    "TrackerManager": "ferrotrack.experiment.trackers.tracker_manager",
}

__all__ = [
    "METRIC_NAMES",
    "BackendTracker",
    "Callback",
    "CallbackError",
    "CallbackFactory",
    "CheckpointCallback",
    "ConfigError",
    "EarlyStopping",
    "Environment",
    "Experiment",
    "ExperimentError",
    "ExperimentOutcome",
    "Factory",
    "FactoryRegistry",
    "FactoryType",
    "Level",
    "Metric",
    "MetricsTracker",
    "Pipeline",
    "PipelineError",
    "PipelineFactory",
    "RunStatus",
    "StopTraining",
    "Tracker",
    "TrackerFactory",
    "TrackerManager",
    "UnknownNameError",
    "YAMLSerializable",
]

__version__: str
"""The installed version of ``ferrotrack-experiment``; read from its metadata on first use."""


__getattr__ = lazy_getattr(globals(), _LAZY, distribution="ferrotrack-experiment")
