"""Backend configs: pydantic models, one per backend, loadable from YAML.

``BUILTIN`` names the config class of each backend this package ships (imported only when
asked for); a backend of another distribution declares its own through its class's
``config_class``, found by entry point.
"""

from __future__ import annotations

import importlib

from ferrotrack.run.configs.base import BackendConfig, config_error
from ferrotrack.run.configs.local import LocalConfig

__all__ = ["BUILTIN", "BackendConfig", "LocalConfig", "builtin_config_class", "config_error"]

BUILTIN: dict[str, str] = {
    "local": "ferrotrack.run.configs.local:LocalConfig",
    "docker": "ferrotrack.run.configs.docker:DockerConfig",
    "slurm": "ferrotrack.run.configs.slurm:SlurmConfig",
    "ray": "ferrotrack.run.configs.ray:RayConfig",
    "dask": "ferrotrack.run.configs.dask:DaskConfig",
    # one line per backend: "<backend_type>": "<module>:<class>",
}


def builtin_config_class(backend_type: str) -> type[BackendConfig] | None:
    """The config class of a built-in backend, or ``None``."""
    target = BUILTIN.get(backend_type)
    if target is None:
        return None
    module, _, name = target.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, BackendConfig)):
        raise TypeError(f"{target} is not a BackendConfig")
    return cls
