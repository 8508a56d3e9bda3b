"""PostgreSQL going away: stopped in the middle of a run (the loop keeps its pace, the
backend shows as degraded, a sync after the server returns fills the gap once), and a
logging process SIGKILLed (a sync makes the mirror whole, each point once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import ferrotrack.core as ft
from ferrotrack.core.delivery.health import backend_health
from ferrotrack.core.run import Run

sys.path.insert(0, str(Path(__file__).parent))
from postgres_server import (
    PostgresServer,
    cli,
    pg_url,
    points,
    postgres,
    query,
    same_points,
    store_points,
)

__all__ = ["pg_url", "postgres"]  # fixtures used here

URL = "FERROTRACK_BACKEND_CONFIGS__SQL__URL"


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    """Polls ``condition`` until it holds; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def delivered(url: str, run_id: str) -> int:
    """Rows the database holds of the run (0 before its tables exist)."""
    if query(url, "SELECT to_regclass('delivered') IS NULL") == [(True,)]:
        return 0
    found = query(url, "SELECT COALESCE(SUM(rows), 0) FROM delivered WHERE run_id = :r", r=run_id)
    return int(found[0][0])


def log_steps(run: Run, first: int, count: int) -> float:
    """Logs ``count`` steps of 4 metrics; the seconds it took."""
    began = time.perf_counter()
    for step in range(first, first + count):
        run.log({"loss": 1.0 / (step + 1), "acc": step * 1e-5, "lr": 0.1, "grad": -1.0}, step=step)
    return time.perf_counter() - began


@pytest.mark.slow
def test_postgres_stopped_mid_run_then_synced_once(
    postgres: PostgresServer, pg_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL, pg_url)
    monkeypatch.setenv("FERROTRACK_FLUSH_INTERVAL", "0.05")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.05")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "3")
    steps = 100_000
    with ft.start_run(experiment="baseline") as base:
        baseline = log_steps(base, 0, steps)
    try:
        with ft.start_run(experiment="exp", backends=["sql"]) as run:
            log_steps(run, 0, 2_000)
            wait_for("points in PostgreSQL", lambda: delivered(pg_url, run.run_id) > 0)
            postgres.stop()
            during = log_steps(run, 2_000, steps)
            wait_for(
                "the backend marked degraded",
                lambda: backend_health(run.run_dir).get("sql", {}).get("state") == "degraded",
            )
            log_steps(run, 2_000 + steps, 1_000)
        # Generous: the loop never waits on the database, so it runs at its usual pace.
        assert during < 3 * baseline + 0.5, (during, baseline)
        shown = json.loads(cli("runs", "show", run.run_id, "--json").stdout)
        health = shown["backends"]["sql"]
        assert health["state"] == "degraded"
        assert "backend 'sql'" in health["error"]
        assert postgres.password not in json.dumps(shown)
        assert health["rows"] < health["total"] == len(store_points(run.run_dir))
    finally:
        postgres.start()
    out = cli("sync", run.run_id, "--backend", "sql")
    assert postgres.password not in out.stdout + out.stderr
    stored = store_points(run.run_dir)
    assert len(stored) == 4 * (2_000 + steps + 1_000)
    assert same_points(points(pg_url, run.run_id), stored), "the gap filled, each point once"
    assert query(pg_url, "SELECT status FROM runs WHERE id = :r", r=run.run_id) == [("finished",)]
    shown = json.loads(cli("runs", "show", run.run_id, "--json").stdout)
    assert shown["backends"]["sql"]["state"] == "ok"
    again = cli("sync", run.run_id, "--backend", "sql")
    assert " 0 sent" in again.stdout, again.stdout
    assert same_points(points(pg_url, run.run_id), stored)


CHILD = textwrap.dedent(
    """
    import time
    import ferrotrack.core as ft

    with ft.start_run(experiment="exp", params={"lr": 0.1}, backends=["sql"]) as run:
        print(run.run_id, flush=True)
        step = 0
        while True:
            run.log({"a": float(step), "b": -float(step)}, step=step)
            step += 1
            if step % 200 == 0:
                time.sleep(0.005)
    """
)


@pytest.mark.slow
def test_a_sigkilled_logging_process_is_synced_once(
    pg_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL, pg_url)
    monkeypatch.setenv("FERROTRACK_FLUSH_INTERVAL", "0.05")
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        assert len(run_id) == 32, child.stderr.read() if child.stderr else ""
        wait_for("points in PostgreSQL", lambda: delivered(pg_url, run_id) > 20_000)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    (run_dir,) = root.glob(f"experiment=exp/run={run_id}")
    stored = store_points(run_dir)
    before = points(pg_url, run_id)
    assert 20_000 <= len(before) <= len(stored)
    assert same_points(before, stored[: len(before)]), "what got in is the store's first rows"
    cli("sync", run_id, "--backend", "sql")
    assert same_points(points(pg_url, run_id), stored), "whole, each point once"
    assert query(pg_url, "SELECT status FROM runs WHERE id = :r", r=run_id) != [("running",)]
    again = cli("sync", run_id, "--backend", "sql")
    assert " 0 sent" in again.stdout, again.stdout
    assert query(pg_url, "SELECT key FROM params") == [("lr",)]
