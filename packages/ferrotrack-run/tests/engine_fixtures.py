"""What the ray and dask backends' tests share: one real cluster per engine for the whole
session (a Ray start costs seconds), and the scenarios both engines must pass.

A test module declares its session fixture from :func:`ray_session` / :func:`dask_session`;
the cluster is the backend's own process-wide session (several modules share one start),
so the runs under test reuse it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
from run_fixtures import processes_with
from run_fixtures import wait_for as poll_until

import ferrotrack.core as ft
from ferrotrack.core.plugins.execution import get_execution_plugin
from ferrotrack.run.model import ModelRun

RAY_OPTIONS: dict[str, Any] = {"init_kwargs": {"num_cpus": 2}}
"""The session's Ray: 2 CPUs (tasks of 0.5 CPU make 4 slots)."""
DASK_OPTIONS: dict[str, Any] = {"n_workers": 2, "threads_per_worker": 2}
"""The session's Dask: 2 worker processes of 2 threads (4 slots)."""
WIDE: dict[str, dict[str, Any]] = {"ray": {"num_cpus": 0.5}, "dask": {}}
"""Per-task options giving 4 slots on the session cluster (more than a limit of 2)."""


def ray_session() -> Iterator[dict[str, Any]]:
    """The backend options of the session's local Ray instance (started once), for a
    session-scoped fixture."""
    from ferrotrack.run.backends import ray as ray_backend

    ray_backend.start(**RAY_OPTIONS)
    yield dict(RAY_OPTIONS)
    ray_backend.shutdown()


def dask_session() -> Iterator[dict[str, Any]]:
    """The backend options of the session's Dask ``LocalCluster`` (started once), for a
    session-scoped fixture."""
    from ferrotrack.run.backends import dask as dask_backend

    dask_backend.start(**DASK_OPTIONS)
    yield dict(DASK_OPTIONS)
    dask_backend.shutdown()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls ``condition`` until it holds; fails naming ``what`` after ``timeout`` s
    (run_fixtures' poll, in the argument order of this module's many calls)."""
    poll_until(what, condition, timeout)


marked = processes_with
"""The live processes carrying ``marker`` (command line or ``FT_TEST_MARK``)."""


def wait_gone(marker: str, timeout: float) -> None:
    """Fails unless every process carrying ``marker`` is gone within ``timeout`` s."""
    wait_for(lambda: not marked(marker), timeout, f"processes left running: {marked(marker)}")


def kill_marked(marker: str) -> None:
    """Kills what a failed test left behind (the test has failed already)."""
    for proc in marked(marker):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def store_run(run_id: str) -> dict[str, Any]:
    """The store's row of run ``run_id`` (status, tags...)."""
    table = ft.runs()
    rows = table.filter(table["run_id"] == run_id).to_dicts()
    assert len(rows) == 1, f"run {run_id} not in the store"
    return rows[0]


def tags(model: ModelRun) -> dict[str, str]:
    """The tags of the model run's last ferrotrack run, as stored."""
    run = model.tracked_run
    assert run is not None
    return {k: v for k, v in store_run(run.run_id)["tags"].items() if v is not None}


# --- the scenarios both engines pass -------------------------------------------------------


def check_success(engine: str, options: dict[str, Any], folder: Path) -> None:
    model = ModelRun(run_id="ok", command="echo hello; echo oops >&2", output_dir=folder)
    assert model.run(backend=engine, **options) is True
    run = model.tracked_run
    assert run is not None
    row = store_run(run.run_id)
    assert row["status"] == "finished"
    assert tags(model)["ferrotrack.exit_code"] == "0"
    assert tags(model)["ferrotrack.backend"] == engine
    assert (run.run_dir / "logs" / "stdout.txt").read_text() == "hello\n"
    assert (run.run_dir / "logs" / "stderr.txt").read_text() == "oops\n"


def check_child_log(engine: str, options: dict[str, Any], folder: Path) -> None:
    code = "import ferrotrack.core as ft; ft.log('child/x', 1.0)"
    model = ModelRun(run_id="child", command=[sys.executable, "-c", code], output_dir=folder)
    assert model.run(backend=engine, **options) is True
    run = model.tracked_run
    assert run is not None
    points = ft.metrics(runs=run.run_id, names="child/x").collect()
    assert points["value"].to_list() == [1.0]


def check_failure(engine: str, options: dict[str, Any], folder: Path) -> None:
    model = ModelRun(run_id="bad", command="echo before; exit 3", output_dir=folder)
    assert model.run(backend=engine, **options) is False
    run = model.tracked_run
    assert run is not None
    assert store_run(run.run_id)["status"] == "failed"
    assert tags(model)["ferrotrack.exit_code"] == "3"
    assert tags(model)["ferrotrack.reason"] == "exited with status 3"
    assert (run.run_dir / "logs" / "stdout.txt").read_text() == "before\n"


def check_timeout(engine: str, options: dict[str, Any], folder: Path) -> None:
    marker = f"ft-timeout-{uuid.uuid4().hex}"
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)", marker]
    model = ModelRun(run_id="slow", command=sleeper, output_dir=folder, timeout=1.0)
    started = time.monotonic()
    try:
        assert model.run(backend=engine, **options) is False
        assert time.monotonic() - started < 30
        assert store_run(model.tracked_run.run_id)["status"] == "failed"  # type: ignore[union-attr]
        assert tags(model)["ferrotrack.reason"].startswith("timed out after 1 s")
        wait_gone(marker, 10)
    finally:
        kill_marked(marker)


def check_fan_out(engine: str, options: dict[str, Any], folder: Path) -> None:
    """8 runs, at most 2 at once although the cluster has 4 slots; results in order."""
    times = folder / "times"
    times.mkdir()
    models = []
    for i in range(8):
        status = 1 if i == 5 else 0
        command = (
            f"s=$(date +%s%N); sleep 0.3; e=$(date +%s%N); echo $s $e > {times}/{i}; exit {status}"
        )
        models.append(ModelRun(run_id=f"p{i}", command=command, output_dir=folder))
    backend = get_execution_plugin("run", engine)
    results = backend.run_many(models, max_concurrency=2, **options, **WIDE[engine])
    assert results == [i != 5 for i in range(8)]
    spans = [tuple(map(int, (times / str(i)).read_text().split())) for i in range(8)]
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    assert peak == 2, f"{peak} model runs ran at once (limit 2)"
    for i, model in enumerate(models):
        assert model.tracked_run is not None
        assert tags(model)["ferrotrack.model_run"] == f"p{i}"
        assert tags(model)["ferrotrack.exit_code"] == str(1 if i == 5 else 0)


def check_unreachable(engine: str, folder: Path) -> None:
    with socket_closed() as port:
        address = f"127.0.0.1:{port}" if engine == "ray" else f"tcp://127.0.0.1:{port}"
        model = ModelRun(run_id="far", command="true", output_dir=folder)
        assert model.run(backend=engine, address=address, connect_timeout=2) is False
        reason = tags(model)["ferrotrack.reason"]
        assert address in reason, reason
        assert "unreachable" in reason, reason
        assert store_run(model.tracked_run.run_id)["status"] == "failed"  # type: ignore[union-attr]
        models = [ModelRun(run_id=f"far{i}", command="true", output_dir=folder) for i in range(3)]
        backend = get_execution_plugin("run", engine)
        assert backend.run_many(models, max_concurrency=2, address=address) == [False] * 3
        for m in models:
            assert "unreachable" in tags(m)["ferrotrack.reason"]
            assert store_run(m.tracked_run.run_id)["status"] == "failed"  # type: ignore[union-attr]


class socket_closed:
    """A local port with nothing listening (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        return port

    def __exit__(self, *exc: object) -> None:
        return None


def check_missing_library(engine: str, module: str) -> None:
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from ferrotrack.run.model import ModelRun\n"
        "try:\n"
        f"    ModelRun(run_id='x', command='true', output_dir='out').run(backend={engine!r})\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out.startswith("MissingDependencyError"), out
    assert f"pip install ferrotrack-run[{engine}]" in out, out


# --- ending a sweep from outside: Ctrl-C or cancel_all, in a child process -----------------

SWEEP_SCRIPT = r"""
import json, sys, threading, time
from pathlib import Path

def main():
    engine, mode, folder, marker = sys.argv[1:5]
    options = json.loads(sys.argv[5])
    folder = Path(folder)
    from ferrotrack.core.plugins.execution import get_execution_plugin
    from ferrotrack.run.model import ModelRun
    backend = get_execution_plugin("run", engine)
    code = (
        "import pathlib, subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', sys.argv[2]]); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(120)"
    )
    runs = [
        ModelRun(run_id=f"c{i}", output_dir=folder / "out",
                 command=[sys.executable, "-c", code, str(folder / f"started.{i}"), marker])
        for i in range(6)
    ]
    if mode == "cancel_all":
        def stopper():
            while len(list(folder.glob("started.*"))) < 2:
                time.sleep(0.05)
            begun = time.monotonic()
            backend.cancel_all()
            (folder / "cancel_s").write_text(str(time.monotonic() - begun))
        threading.Thread(target=stopper, daemon=True).start()
    results = backend.run_many(runs, max_concurrency=2, **options)
    print(json.dumps(results))

if __name__ == "__main__":
    main()
"""


def check_sweep_ended(engine: str, options: dict[str, Any], folder: Path, mode: str) -> None:
    """A child process runs a sweep of long commands; once two are running it is ended by
    SIGINT (``mode="sigint"``) or its own ``cancel_all()``: nothing may be left running and
    every run is recorded killed or failed."""
    script = folder / "sweep.py"
    script.write_text(SWEEP_SCRIPT)
    marker = f"ft-sweep-{uuid.uuid4().hex}"
    args = [sys.executable, str(script), engine, mode, str(folder), marker, json.dumps(options)]
    log = (folder / "child.log").open("w")
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    parent = psutil.Process(child.pid)
    try:
        wait_for(
            lambda: len(list(folder.glob("started.*"))) >= 2 or child.poll() is not None,
            120,
            "two model runs of the sweep running",
        )
        assert child.poll() is None, (folder / "child.log").read_text()[-3000:]
        spawned = parent.children(recursive=True)
        if mode == "sigint":  # the sweep itself and 2 x (command, grandchild)
            assert len(marked(marker)) >= 5, marked(marker)
        ended = time.monotonic()
        if mode == "sigint":
            os.kill(child.pid, signal.SIGINT)
        out, _ = child.communicate(timeout=90)
        wait_gone(marker, 10)
        gone_s = time.monotonic() - ended
        assert gone_s < 30
        wait_for(
            lambda: not [p for p in spawned if p.is_running() and p.status() != "zombie"],
            60,
            "the engine's processes of the child still running",
        )
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        kill_marked(marker)
        log.close()
    if mode == "sigint":
        assert child.returncode != 0
    else:
        assert child.returncode == 0, (folder / "child.log").read_text()[-3000:]
        assert json.loads(out) == [False] * 6
    rows = ft.runs().to_dicts()
    statuses = [row["status"] for row in rows]
    assert len(rows) >= 2, statuses
    assert set(statuses) <= {"killed", "failed"}, statuses
    assert statuses.count("killed") >= 2, statuses


SINGLE_SCRIPT = r"""
import json, sys
from pathlib import Path

def main():
    engine, folder, marker = sys.argv[1:4]
    options = json.loads(sys.argv[4])
    folder = Path(folder)
    from ferrotrack.run.model import ModelRun
    code = (
        "import pathlib, subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', sys.argv[2]]); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(120)"
    )
    model = ModelRun(run_id="one", output_dir=folder / "out",
                     command=[sys.executable, "-c", code, str(folder / "started"), marker])
    try:
        model.run(backend=engine, **options)
    finally:
        if model.tracked_run is not None:
            (folder / "run_id").write_text(model.tracked_run.run_id)

if __name__ == "__main__":
    main()
"""


def check_single_interrupted(engine: str, options: dict[str, Any], folder: Path) -> None:
    """A child process runs one ``model.run(backend=engine)`` of a long command; SIGINT
    once it runs: the child ends by KeyboardInterrupt, nothing is left running, the run is
    recorded killed."""
    script = folder / "single.py"
    script.write_text(SINGLE_SCRIPT)
    marker = f"ft-single-{uuid.uuid4().hex}"
    args = [sys.executable, str(script), engine, str(folder), marker, json.dumps(options)]
    log = (folder / "child.log").open("w")
    child = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, text=True)
    parent = psutil.Process(child.pid)
    try:
        wait_for(
            lambda: (folder / "started").exists() or child.poll() is not None,
            120,
            "the model run's command running",
        )
        assert child.poll() is None, (folder / "child.log").read_text()[-3000:]
        spawned = parent.children(recursive=True)
        assert len(marked(marker)) >= 2, marked(marker)
        os.kill(child.pid, signal.SIGINT)
        child.wait(timeout=90)
        wait_gone(marker, 10)
        wait_for(
            lambda: not [p for p in spawned if p.is_running() and p.status() != "zombie"],
            60,
            "the engine's processes of the child still running",
        )
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        kill_marked(marker)
        log.close()
    output = (folder / "child.log").read_text()
    assert child.returncode != 0, output[-3000:]
    assert "KeyboardInterrupt" in output, output[-3000:]
    row = store_run((folder / "run_id").read_text())
    assert row["status"] == "killed", row
