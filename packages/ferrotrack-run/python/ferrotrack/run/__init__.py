"""ferrotrack.run: model runs executed by run backends (local, Docker, Slurm, Ray, Dask),
pipelines and sweeps; every execution a ferrotrack run (seed 003's run layer).

>>> from ferrotrack.run import ModelRun
>>> model = ModelRun(run_id="demo", command="echo hello")  # doctest: +SKIP
>>> model.run(backend="local")                             # doctest: +SKIP
True

Each public name is imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.run.backends.base import CommandBackend
    from ferrotrack.run.backends.local import LocalBackend
    from ferrotrack.run.configs.base import BackendConfig
    from ferrotrack.run.configs.local import LocalConfig
    from ferrotrack.run.errors import (
        BackendConfigError,
        ModelRunError,
        RunPackageError,
        TemplateError,
    )
    from ferrotrack.run.execution import Execution, cancel, start_execution
    from ferrotrack.run.loading import load_backend_configs
    from ferrotrack.run.model import ModelRun
    from ferrotrack.run.pipelines.local import LocalPipeline
    from ferrotrack.run.process import CommandSpec, ProcessResult, run_command

_LAZY = {
    "CommandBackend": "ferrotrack.run.backends.base",
    "LocalBackend": "ferrotrack.run.backends.local",
    "BackendConfig": "ferrotrack.run.configs.base",
    "LocalConfig": "ferrotrack.run.configs.local",
    "BackendConfigError": "ferrotrack.run.errors",
    "ModelRunError": "ferrotrack.run.errors",
    "RunPackageError": "ferrotrack.run.errors",
    "TemplateError": "ferrotrack.run.errors",
    "Execution": "ferrotrack.run.execution",
    "cancel": "ferrotrack.run.execution",
    "start_execution": "ferrotrack.run.execution",
    "load_backend_configs": "ferrotrack.run.loading",
    "ModelRun": "ferrotrack.run.model",
    "LocalPipeline": "ferrotrack.run.pipelines.local",
    "CommandSpec": "ferrotrack.run.process",
    "ProcessResult": "ferrotrack.run.process",
    "run_command": "ferrotrack.run.process",
}

__all__ = [
    "BackendConfig",
    "BackendConfigError",
    "CommandBackend",
    "CommandSpec",
    "Execution",
    "LocalBackend",
    "LocalConfig",
    "LocalPipeline",
    "ModelRun",
    "ModelRunError",
    "ProcessResult",
    "RunPackageError",
    "TemplateError",
    "cancel",
    "load_backend_configs",
    "run_command",
    "start_execution",
]

__getattr__ = lazy_getattr(globals(), _LAZY, distribution="ferrotrack-run")


def __dir__() -> list[str]:
    return __all__
