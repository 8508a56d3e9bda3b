"""The ray backend when things go wrong around the engine: resources refused up front,
a task the engine refuses at submission, a session whose cluster died."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fixtures import ray_session, store_run, tags

from ferrotrack.core.plugins.execution import get_execution_plugin
from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.model import ModelRun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def ray_engine() -> Iterator[dict[str, Any]]:
    """The session's ray cluster: the backend options that reach it."""
    yield from ray_session()


def test_cpu_or_gpu_in_resources_is_a_config_error(root: Path, tmp_path: Path) -> None:
    model = ModelRun(run_id="x", command="true", output_dir=tmp_path / "out")
    with pytest.raises(BackendConfigError, match=r"resources\.GPU: .*num_gpus"):
        model.run(backend="ray", resources={"GPU": 1})
    assert model.tracked_run is None


def test_a_gpu_the_local_instance_lacks_fails_at_once(
    root: Path, tmp_path: Path, ray_engine: dict[str, Any]
) -> None:
    model = ModelRun(run_id="gpu", command="true", output_dir=tmp_path / "out")
    started = time.monotonic()
    assert model.run(backend="ray", num_gpus=1, **ray_engine) is False
    assert time.monotonic() - started < 30
    reason = tags(model)["ferrotrack.reason"]
    assert "no worker can run the task" in reason, reason
    assert "GPU 1 (it has 0)" in reason, reason


def test_a_task_the_engine_refuses_fails_its_run_only(
    root: Path, tmp_path: Path, ray_engine: dict[str, Any]
) -> None:
    """Ray refuses the task at submission (a runtime_env it cannot read): each run is
    failed with the reason, run_many returns, the session stays usable."""
    models = [ModelRun(run_id=f"r{i}", command="true", output_dir=tmp_path / "out") for i in (1, 2)]
    backend = get_execution_plugin("run", "ray")
    results = backend.run_many(models, runtime_env={"pip": 5}, **ray_engine)
    assert results == [False, False]
    for m in models:
        assert "could not be submitted" in tags(m)["ferrotrack.reason"]
        assert store_run(m.tracked_run.run_id)["status"] == "failed"  # type: ignore[union-attr]
    again = ModelRun(run_id="again", command="true", output_dir=tmp_path / "out")
    assert again.run(backend="ray", **ray_engine) is True


DEAD_SCRIPT = r"""
import sys, time
import psutil
from ferrotrack.run.model import ModelRun
import ray

def main():
    folder = sys.argv[1]
    options = {"init_kwargs": {"num_cpus": 1}}
    first = ModelRun(run_id="a", command="true", output_dir=folder)
    assert first.run(backend="ray", **options), "first run"
    gcs = ray.get_runtime_context().gcs_address
    port = int(gcs.rpartition(":")[2])
    doomed = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or ())
        if proc.info["name"] == "raylet" and gcs in line:
            doomed.append(proc)
        elif proc.info["name"] == "gcs_server":
            try:
                ports = {c.laddr.port for c in proc.net_connections("inet")}
            except psutil.Error:
                continue
            if port in ports:
                doomed.append(proc)
    assert len(doomed) == 2, doomed
    for proc in doomed:
        proc.kill()
    psutil.wait_procs(doomed, timeout=10)
    begun = time.monotonic()
    second = ModelRun(run_id="b", command="true", output_dir=folder, timeout=5)
    print("second", second.run(backend="ray", **options), round(time.monotonic() - begun, 1))

if __name__ == "__main__":
    main()
"""


def test_a_session_whose_cluster_died_is_started_again(root: Path, tmp_path: Path) -> None:
    """In a child process (it kills its own Ray): the run after the cluster died starts a
    new local instance instead of waiting forever on the dead one."""
    script = tmp_path / "dead.py"
    script.write_text(DEAD_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "second True" in done.stdout, done.stdout + done.stderr[-3000:]
