"""The scheduler collector: Slurm facts from the SLURM_* variables Slurm sets, Dask facts
inside a real Dask worker, and nothing (no import) when ray/distributed are not in use."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from ferrotrack.collectors.scheduler import SchedulerCollector, slurm_facts
from ferrotrack.core.plugins import MetricType

SLURM_ENV = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "train",
    "SLURM_ARRAY_JOB_ID": "4240",
    "SLURM_ARRAY_TASK_ID": "2",
    "SLURM_JOB_PARTITION": "gpu",
    "SLURM_JOB_NODELIST": "node[01-02]",
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_NTASKS": "8",
    "SLURM_CPUS_PER_TASK": "4",
    "SLURM_PROCID": "0",
}


def collected() -> dict[str, Any]:
    c = SchedulerCollector()
    c.initialize({})
    return {m.name: (m.value, m.type) for m in c.collect()}


def test_slurm_facts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SLURM_ENV.items():
        monkeypatch.setenv(key, value)
    got = collected()
    assert got["scheduler"] == ("slurm", MetricType.TEXT)
    assert got["scheduler.slurm.job_id"] == (4242, MetricType.PARAMETER)
    assert got["scheduler.slurm.array_task_id"][0] == 2
    assert got["scheduler.slurm.partition"][0] == "gpu"
    assert got["scheduler.slurm.nodelist"][0] == "node[01-02]"
    assert got["scheduler.slurm.num_nodes"][0] == 2
    assert got["scheduler.slurm.cpus_per_task"][0] == 4


def test_outside_a_job_nothing_but_the_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_facts({"SLURM_NTASKS": "2"}) == {}
    assert collected() == {"scheduler": ("none", MetricType.TEXT)}


def test_ray_and_distributed_are_never_imported_by_the_collector() -> None:
    code = (
        "import sys, json\n"
        "from ferrotrack.collectors.scheduler import SchedulerCollector\n"
        "c = SchedulerCollector(); c.initialize({})\n"
        "names = [m.name for m in c.collect()]\n"
        "print(json.dumps([names, 'ray' in sys.modules, 'distributed' in sys.modules]))\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("SLURM_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout) == [["scheduler"], False, False]


@pytest.mark.slow
def test_dask_facts_inside_a_real_worker() -> None:
    import distributed

    def in_task() -> dict[str, Any]:
        c = SchedulerCollector()
        c.initialize({"slurm": False, "ray": False})
        return {m.name: m.value for m in c.collect()}

    cluster_class: Any = distributed.LocalCluster
    client_class: Any = distributed.Client
    with (
        cluster_class(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        client_class(cluster) as client,
    ):
        got = client.submit(in_task, key="collect-task").result(timeout=60)
        address = next(iter(cluster.workers.values())).address
    assert got["scheduler"] == "dask"
    assert got["scheduler.dask.worker_address"] == address
    assert got["scheduler.dask.nthreads"] == 1
    assert got["scheduler.dask.task_key"] == "collect-task"
    outside = in_task()  # the driver is no worker
    assert outside == {"scheduler": "none"}


@pytest.mark.slow
def test_ray_facts_on_a_real_ray_driver(tmp_path: Any) -> None:
    """A fresh interpreter starts a local Ray (1 CPU, no dashboard) and records its facts
    as a driver (no task id there); the same collector in a Ray task sees the task."""
    code = (
        "import json, ray\n"
        "from ferrotrack.collectors.scheduler import SchedulerCollector\n"
        "def facts():\n"
        "    c = SchedulerCollector(); c.initialize({'slurm': False, 'dask': False})\n"
        "    return {m.name: m.value for m in c.collect()}\n"
        "ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)\n"
        "driver = facts()\n"
        "task = ray.get(ray.remote(facts).remote())\n"
        "print(json.dumps([driver, task, ray.get_runtime_context().get_job_id()]))\n"
        "ray.shutdown()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    driver, task, job_id = json.loads(done.stdout.strip().splitlines()[-1])
    assert driver["scheduler"] == "ray"
    assert driver["scheduler.ray.job_id"] == job_id
    assert driver["scheduler.ray.node_id"]
    assert "scheduler.ray.task_id" not in driver
    assert task["scheduler.ray.job_id"] == job_id
    assert task["scheduler.ray.task_id"]
