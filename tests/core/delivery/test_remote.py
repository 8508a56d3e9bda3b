"""Delivery from a process of its own (``orchestrator.process = true``): the same contract
and files as delivery on threads, the backend never started in the run's process, and a
delivery process that stops at once when the run's process dies (sync takes over)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

import ferrotrack.core as ft
from ferrotrack.core.delivery.replay import replay
from ferrotrack.core.plugins import BackendPlugin, PluginManager, PluginMetadata, PluginType
from ferrotrack.core.settings import FerrotrackSettings

REMOTE = {"process": True}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def settings(out: Path) -> FerrotrackSettings:
    return FerrotrackSettings(
        flush_interval=0.05,
        backends=["example_jsonl"],
        backend_configs={"example_jsonl": {"path": str(out)}},
        orchestrator=REMOTE,
    )


def test_a_delivery_process_keeps_the_contract_and_the_run_never_starts_the_backend(
    root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mirror.jsonl"
    with ft.start_run("remote", experiment="e", params={"lr": 0.1}, settings=settings(out)) as run:
        session = run._session
        assert session is not None
        assert "example_jsonl" not in session.manager.status()  # started in the child only
        for step in range(300):
            run.log("loss", float(step), step)
        run.log_params({"batch": 32})
        run.set_tags({"phase": "b"})
        run.log_event("checkpoint", name="ckpt-1")
        for step in range(300, 400):
            run.log("loss", float(step), step)
        assert session.status()["backends"]["example_jsonl"]["state"] == "ok"
        child = session.orchestrator._proc  # type: ignore[union-attr]
    assert child is not None
    assert child.poll() == 0  # finish waited for it
    got = lines(out)
    keys = [next(iter(r)) for r in got]
    assert keys[0] == "open"
    assert got[0]["run_params"] == {"lr": 0.1}
    assert [r["step"] for r in got if "name" in r] == list(range(400))
    where = {k: i for i, k in enumerate(keys) if k != "name"}
    points_before = [sum(1 for k in keys[:i] if k == "name") for i in range(len(keys))]
    assert points_before[where["params"]] == 300
    assert points_before[where["tags"]] == 300
    assert points_before[where["event"]] == 300
    assert [r["status"] for r in got if "status" in r] == ["running", "finished"]
    assert keys[-1] == "status"
    cursor = json.loads((run.run_dir / "sync" / "example_jsonl" / "rank-0.json").read_text())
    assert cursor["rows"] == 400


def test_a_backend_of_a_local_class_stays_in_the_run_process(root: Path) -> None:
    seen: list[int] = []

    class Local(BackendPlugin):
        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="local", type=PluginType.BACKEND)

        def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
            seen.append(batch.num_rows)

    config = FerrotrackSettings(orchestrator=REMOTE)
    with ft.start_run(settings=config, backends=[Local()]) as run:
        run.log("a", 1.0, 0)
        assert type(run._session.orchestrator).__name__ == "Orchestrator"  # type: ignore[union-attr]
    assert sum(seen) == 1


CHILD = """
import sys, time
import ferrotrack.core as ft
from ferrotrack.core.settings import FerrotrackSettings

out, root = sys.argv[1], sys.argv[2]
config = FerrotrackSettings(
    root=root, flush_interval=0.05, backends=["example_jsonl"],
    backend_configs={"example_jsonl": {"path": out}}, orchestrator={"process": True},
)
run = ft.start_run("killed", experiment="e", settings=config)
print(run.run_dir, run._session.orchestrator._proc.pid, flush=True)
step = 0
while True:
    run.log("loss", float(step), step)
    step += 1
    if step % 1000 == 0:
        time.sleep(0.001)
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_delivery_process_stops_when_the_run_dies_and_sync_completes_once(
    root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "mirror.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(out), str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_dir, pid = proc.stdout.readline().split()
    deadline = time.monotonic() + 60
    while not (out.exists() and sum(1 for r in lines(out) if "name" in r) > 2000):
        assert time.monotonic() < deadline, "the delivery process delivered nothing"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while not _gone(int(pid)):
        assert time.monotonic() < deadline, "the delivery process outlived the run"
        time.sleep(0.02)

    backend = PluginManager().create("example_jsonl", PluginType.BACKEND, {"path": out})
    backend.start()
    assert isinstance(backend, BackendPlugin)
    assert replay(Path(run_dir), backend).ok
    steps = [r["step"] for r in lines(out) if "name" in r]
    stored = ft.metrics(experiment="e").collect()["step"].to_list()
    assert steps == stored  # each point once, in order
    statuses = [r["status"] for r in lines(out) if "status" in r]
    assert statuses == ["running", "crashed"]
