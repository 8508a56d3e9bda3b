"""ferrotrack.collectors: what a run records about where it ran.

Six collectors, found by name through the ``ferrotrack.collectors`` entry points:
``system`` (psutil samples under ``sys/…``), ``gpu`` (NVML samples under ``gpu/…``),
``git``, ``environment``, ``scheduler`` and ``container`` (facts recorded once, at start).

>>> import ferrotrack.core as ft
>>> with ft.start_run("demo", collectors=["system", "git"]):      # doctest: +SKIP
...     ...

Each public name is imported on first use, so importing the package (and listing plugins)
stays cheap; psutil and NVML are imported only when a collector is initialized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.collectors._common import redact_url
    from ferrotrack.collectors.container import (
        CgroupLimits,
        ContainerCollector,
        ContainerConfig,
        read_cgroup_limits,
    )
    from ferrotrack.collectors.environment import (
        EnvironmentCollector,
        EnvironmentConfig,
        requirements,
        selected_env,
    )
    from ferrotrack.collectors.git import GitCollector, GitConfig
    from ferrotrack.collectors.gpu import GpuCollector, GpuConfig
    from ferrotrack.collectors.scheduler import SchedulerCollector, SchedulerConfig, slurm_facts
    from ferrotrack.collectors.system import SystemCollector, SystemConfig

_LAZY = {
    "CgroupLimits": "ferrotrack.collectors.container",
    "ContainerCollector": "ferrotrack.collectors.container",
    "ContainerConfig": "ferrotrack.collectors.container",
    "read_cgroup_limits": "ferrotrack.collectors.container",
    "EnvironmentCollector": "ferrotrack.collectors.environment",
    "EnvironmentConfig": "ferrotrack.collectors.environment",
    "requirements": "ferrotrack.collectors.environment",
    "selected_env": "ferrotrack.collectors.environment",
    "GitCollector": "ferrotrack.collectors.git",
    "GitConfig": "ferrotrack.collectors.git",
    "GpuCollector": "ferrotrack.collectors.gpu",
    "GpuConfig": "ferrotrack.collectors.gpu",
    "SchedulerCollector": "ferrotrack.collectors.scheduler",
    "SchedulerConfig": "ferrotrack.collectors.scheduler",
    "slurm_facts": "ferrotrack.collectors.scheduler",
    "SystemCollector": "ferrotrack.collectors.system",
    "SystemConfig": "ferrotrack.collectors.system",
    "redact_url": "ferrotrack.collectors._common",
}

__all__ = [
    "CgroupLimits",
    "ContainerCollector",
    "ContainerConfig",
    "EnvironmentCollector",
    "EnvironmentConfig",
    "GitCollector",
    "GitConfig",
    "GpuCollector",
    "GpuConfig",
    "SchedulerCollector",
    "SchedulerConfig",
    "SystemCollector",
    "SystemConfig",
    "read_cgroup_limits",
    "redact_url",
    "requirements",
    "selected_env",
    "slurm_facts",
]

__getattr__ = lazy_getattr(globals(), _LAZY, distribution="ferrotrack-collectors")


def __dir__() -> list[str]:
    return __all__
