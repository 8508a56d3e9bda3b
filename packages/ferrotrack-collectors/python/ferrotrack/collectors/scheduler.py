"""The ``scheduler`` collector: which job of which scheduler the run is, once, at start.

- Slurm: the ``SLURM_*`` variables Slurm sets in a job's environment (job id, array task,
  nodes, partition, CPUs…), as params ``scheduler.slurm.*`` and the tag ``scheduler``.
- Ray: ``ray.get_runtime_context()``, only when ray is already imported and initialized.
- Dask: ``distributed.get_worker()``, only when distributed is already imported and the
  run is inside a worker's task.

Neither ray nor distributed is ever imported here: a run that does not use them pays
nothing, and one that does has them in :data:`sys.modules` already.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import CollectorConfig, facts, metadata
from ferrotrack.core.plugins import CollectorPlugin, MetricData, MetricType, PluginMetadata

__all__ = [
    "SLURM_VARIABLES",
    "SchedulerCollector",
    "SchedulerConfig",
    "dask_facts",
    "ray_facts",
    "slurm_facts",
]

SLURM_VARIABLES = {
    "SLURM_JOB_ID": "job_id",
    "SLURM_JOB_NAME": "job_name",
    "SLURM_ARRAY_JOB_ID": "array_job_id",
    "SLURM_ARRAY_TASK_ID": "array_task_id",
    "SLURM_ARRAY_TASK_COUNT": "array_task_count",
    "SLURM_JOB_PARTITION": "partition",
    "SLURM_JOB_ACCOUNT": "account",
    "SLURM_JOB_QOS": "qos",
    "SLURM_CLUSTER_NAME": "cluster",
    "SLURM_JOB_NODELIST": "nodelist",
    "SLURM_JOB_NUM_NODES": "num_nodes",
    "SLURMD_NODENAME": "node",
    "SLURM_NTASKS": "ntasks",
    "SLURM_PROCID": "procid",
    "SLURM_LOCALID": "localid",
    "SLURM_NODEID": "nodeid",
    "SLURM_CPUS_PER_TASK": "cpus_per_task",
    "SLURM_CPUS_ON_NODE": "cpus_on_node",
    "SLURM_MEM_PER_NODE": "mem_per_node_mb",
    "SLURM_MEM_PER_CPU": "mem_per_cpu_mb",
    "SLURM_GPUS_ON_NODE": "gpus_on_node",
    "SLURM_JOB_GPUS": "job_gpus",
    "SLURM_SUBMIT_DIR": "submit_dir",
    "SLURM_SUBMIT_HOST": "submit_host",
    "SLURM_RESTART_COUNT": "restart_count",
}
"""The Slurm variables recorded, and the param each becomes."""

_SLURM_NUMBERS = frozenset(
    {
        "job_id",
        "array_job_id",
        "array_task_id",
        "array_task_count",
        "num_nodes",
        "ntasks",
        "procid",
        "localid",
        "nodeid",
        "cpus_per_task",
        "cpus_on_node",
        "mem_per_node_mb",
        "mem_per_cpu_mb",
        "gpus_on_node",
        "restart_count",
    }
)
"""The Slurm facts that are counts or ids: recorded as numbers when they are one. The
others (a job name ``0042``, a GPU list ``0``) stay text, so that one param keeps one type
across runs and ``0042`` keeps its zeros."""


class SchedulerConfig(CollectorConfig):
    """Which schedulers to look for."""

    slurm: bool = Field(default=True, description="Record SLURM_* job facts.")
    ray: bool = Field(default=True, description="Record Ray runtime facts when Ray is initialized.")
    dask: bool = Field(default=True, description="Record Dask worker facts inside a Dask task.")


def _value(key: str, text: str) -> int | str:
    """A count or id that is a number becomes one (``SLURM_NTASKS=4``); anything else
    stays text (``isdecimal`` alone would pass ``"²"``, which ``int`` refuses)."""
    if key in _SLURM_NUMBERS and text.isascii() and text.isdigit() and len(text) < 19:
        return int(text)
    return text


def slurm_facts(environ: Mapping[str, str]) -> dict[str, int | str]:
    """The Slurm job facts in ``environ`` (empty outside a Slurm job).

    >>> slurm_facts({"SLURM_JOB_ID": "42", "SLURM_JOB_PARTITION": "gpu"})
    {'job_id': 42, 'partition': 'gpu'}
    """
    if "SLURM_JOB_ID" not in environ:
        return {}
    return {
        key: _value(key, environ[var]) for var, key in SLURM_VARIABLES.items() if environ.get(var)
    }


def ray_facts() -> dict[str, Any]:
    """Ray's runtime context when ray is imported and initialized, else ``{}``."""
    ray = sys.modules.get("ray")
    if ray is None or not getattr(ray, "is_initialized", lambda: False)():
        return {}
    ctx = ray.get_runtime_context()
    out: dict[str, Any] = {"version": getattr(ray, "__version__", None)}
    for key, getter in (
        ("job_id", "get_job_id"),
        ("node_id", "get_node_id"),
        ("worker_id", "get_worker_id"),
        ("task_id", "get_task_id"),
        ("actor_id", "get_actor_id"),
        ("namespace", "namespace"),
    ):
        attr = getattr(ctx, getter, None)
        try:
            value = attr() if callable(attr) else attr
        except Exception:  # a getter that does not apply here (no task on the driver)
            value = None
        if value is not None:
            out[key] = str(value)
    return out


def dask_facts() -> dict[str, Any]:
    """The Dask worker running this code, when distributed is imported and this is a
    worker's task, else ``{}``."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return {}
    try:
        worker = distributed.get_worker()
    except ValueError:  # not inside a worker
        return {}
    out: dict[str, Any] = {
        "version": getattr(distributed, "__version__", None),
        "worker_address": str(worker.address),
        "worker_name": str(worker.name),
        "nthreads": int(worker.state.nthreads),
    }
    try:
        key = worker.get_current_task()
    except Exception:
        key = None
    if key is not None:
        out["task_key"] = str(key)
    return out


class SchedulerCollector(CollectorPlugin):
    """Records the scheduler's job facts once, at start (see the module docstring)."""

    interval: float | None = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``scheduler``."""
        return metadata(
            "scheduler", "Slurm job, Ray runtime and Dask worker facts.", SchedulerConfig
        )

    @property
    def sampling_interval(self) -> float | None:
        """Always ``None``: the facts are taken once."""
        return None

    def collect(self) -> list[MetricData]:
        """Params ``scheduler.<name>.*`` and the tag ``scheduler`` (the names, comma-joined;
        ``none`` when no scheduler was found)."""
        import os

        config: SchedulerConfig = self.config or SchedulerConfig()
        found: dict[str, dict[str, Any]] = {}
        readers = (
            ("slurm", config.slurm, lambda: slurm_facts(os.environ)),
            ("ray", config.ray, ray_facts),
            ("dask", config.dask, dask_facts),
        )
        for name, wanted, read in readers:
            if not wanted:
                continue
            try:
                values = read()
            except Exception as exc:  # one scheduler's API failing must not hide the others
                self.errors += 1
                self.report_problem(
                    f"{name}:{type(exc).__name__}", f"could not read {name} facts: {exc}"
                )
                continue
            if values:
                found[name] = values
        out = facts("scheduler", found, "scheduler")
        tag = ",".join(found) or "none"
        out.append(MetricData("scheduler", tag, MetricType.TEXT, source="scheduler"))
        return out
