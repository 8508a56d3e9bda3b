"""Outages of a real ``mlflow server``: killed (SIGKILL) while a loop logs, the loop keeps
its pace and the backend shows as degraded; once the server is back, ``ferrotrack sync``
fills the gap, every point exactly once. A training process SIGKILLed mid-run is synced
the same way. One server for the module, killed and restarted on the same database."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, str(HERE))

from mlflow_server import MlflowServer, mlflow_server_fixture, wait_for  # noqa: E402, F401

import ferrotrack.core as ft  # noqa: E402

pytestmark = pytest.mark.slow

URI_VAR = "FERROTRACK_BACKEND_CONFIGS__MLFLOW__TRACKING_URI"


@pytest.fixture(autouse=True)
def _no_mlflow_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The variables the backend sets while it runs: none from outside, none leaked out."""
    for name in (
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(
    root: Path, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> MlflowServer:
    """The module's server, running at the start of the test (restarted if a test killed
    it), set as the backend's tracking URI; delivery gives up quickly."""
    if mlflow_server.process is None:
        mlflow_server.start()
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(URI_VAR, mlflow_server.uri)
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.02")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "3")
    return mlflow_server


def cli(*args: str) -> Any:
    from ferrotrack.core.cli.app import build

    return CliRunner().invoke(build(), list(args), catch_exceptions=False)


def health(run_id: str) -> dict[str, Any]:
    shown = cli("runs", "show", run_id, "--json")
    assert shown.exit_code == 0, shown.output
    found: dict[str, Any] = json.loads(shown.output)["backends"]["mlflow"]
    return found


def mlflow_run_of(client: Any, run_id: str) -> Any:
    """The MLflow run tagged with the ferrotrack run id (any experiment), or ``None``."""
    experiments = client.search_experiments()
    ids = [e.experiment_id for e in experiments]
    found = client.search_runs(ids, f"tags.`ferrotrack.run_id` = '{run_id}'")
    return found[0] if found else None


def assert_every_point_once(client: Any, mlflow_run: str, run_id: str, name: str) -> None:
    frame = ft.metrics(runs=run_id).collect()
    stamps = frame["timestamp"].dt.epoch("ns").to_list()
    expected = sorted(
        (s, t // 1_000_000, v)
        for s, t, v in zip(frame["step"].to_list(), stamps, frame["value"].to_list(), strict=True)
    )
    got = [(m.step, m.timestamp, m.value) for m in client.get_metric_history(mlflow_run, name)]
    twice = [s for s, n in Counter(s for s, _, _ in got).items() if n > 1]
    assert not twice, f"points sent twice: steps {twice[:10]}"
    assert sorted(got) == expected


def per_call(run: Any, first: int, count: int) -> list[float]:
    """Seconds each of ``count`` ``run.log`` calls took (every 10th call a 1 ms pause, a
    training step's pace, so the run spans several flushes and delivery attempts)."""
    times = []
    for step in range(first, first + count):
        began = time.perf_counter()
        run.log("x", float(step), step=step)
        times.append(time.perf_counter() - began)
        if step % 10 == 0:
            time.sleep(0.001)
    return times


def degraded(run_dir: Path) -> bool:
    from ferrotrack.core.delivery.health import backend_health

    return bool(backend_health(run_dir).get("mlflow", {}).get("state") == "degraded")


def test_a_server_killed_mid_run_neither_slows_nor_fails_the_loop_and_sync_fills_the_gap(
    server: MlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("FERROTRACK_FLUSH_INTERVAL", "0.2")
    client = MlflowClient(server.uri)
    with ft.start_run(experiment="outage-base") as base:
        baseline = per_call(base, 0, 3000)
    with ft.start_run(experiment="outage", backends=["mlflow"]) as run:
        step = 0
        while (r := mlflow_run_of(client, run.run_id)) is None or not client.get_metric_history(
            r.info.run_id, "x"
        ):
            per_call(run, step, 200)
            step += 200
            assert step < 200_000, "no point reached MLflow"
        server.kill()  # the loop goes on logging while delivery fails and gives up
        during: list[float] = []
        deadline = time.monotonic() + 60
        while not degraded(run.run_dir):
            during += per_call(run, step, 200)
            step += 200
            assert time.monotonic() < deadline, "the backend never showed as degraded"
        during += per_call(run, step, 1000)  # and after it gave up
    slow, fast = statistics.median(during), statistics.median(baseline)
    assert slow < 5 * fast + 20e-6, f"median log call {slow * 1e6:.1f} us vs {fast * 1e6:.1f} us"
    assert max(during) < 1.0, "no log call waits for the dead server"
    shown = health(run.run_id)
    assert shown["state"] == "degraded", shown
    assert "ferrotrack sync" in (shown["error"] or "")
    server.start()
    result = cli("sync", run.run_id, "--backend", "mlflow")
    assert result.exit_code == 0, result.output
    mlflow_run = mlflow_run_of(client, run.run_id)
    assert_every_point_once(client, mlflow_run.info.run_id, run.run_id, "x")
    assert client.get_run(mlflow_run.info.run_id).info.status == "FINISHED"
    assert health(run.run_id)["state"] == "ok"
    again = cli("sync", run.run_id, "--backend", "mlflow")
    assert ", 0 sent" in again.output


SCRIPT = textwrap.dedent(
    """
    import itertools, sys, time
    import ferrotrack.core as ft

    run = ft.start_run(experiment="killed", backends=["mlflow"])
    print(run.run_id, flush=True)
    for step in itertools.count():
        run.log("x", float(step), step=step)
        if step % 20 == 0:
            time.sleep(0.01)  # a training step's pace, so the kill lands mid-run
    """
)


def test_a_process_killed_mid_run_is_synced_once(server: MlflowServer, root: Path) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(server.uri)
    env = {**os.environ, "FERROTRACK_FLUSH_INTERVAL": "0.2"}
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert run_id, "the child started its run"
        wait_for(
            lambda: (
                (r := mlflow_run_of(client, run_id)) is not None
                and len(client.get_metric_history(r.info.run_id, "x")) >= 1000
            ),
            60,
            "points of the child in MLflow",
        )
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    result = cli("sync", run_id, "--backend", "mlflow")
    assert result.exit_code == 0, result.output
    mlflow_run = mlflow_run_of(client, run_id)
    assert_every_point_once(client, mlflow_run.info.run_id, run_id, "x")
    assert client.get_run(mlflow_run.info.run_id).info.status == "FAILED", "crashed"
