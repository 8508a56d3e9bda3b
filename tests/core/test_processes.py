"""Runs across real processes and signals: SIGTERM, children, ranks, uncaught errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import ferrotrack.core as ft
from ferrotrack.core._native import read_run

pytestmark = pytest.mark.slow


def python(code: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_dirs(root: Path) -> list[Path]:
    return sorted(root.glob("experiment=*/run=*"))


def meta(run_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run_dir / "run.json").read_text())
    return data


def test_sigterm_flushes_marks_killed_then_dies_by_the_signal(root: Path) -> None:
    child = python(
        """
        import ferrotrack.core as ft, sys
        run = ft.start_run("victim", flush_interval=30)
        for i in range(1000):
            run.log("x", float(i))
        print("ready", flush=True)
        import time
        while True:
            time.sleep(0.05)
        """
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) == -signal.SIGTERM
    (rdir,) = run_dirs(root)
    m = meta(rdir)
    assert (m["status"], m["signal"]) == ("killed", "SIGTERM")
    # The flush interval was 30 s: only the handler's flush can have written these.
    assert pl.DataFrame(read_run(rdir)).height == 1000


def test_an_uncaught_error_outside_with_marks_the_run_failed(root: Path) -> None:
    child = python(
        """
        import ferrotrack.core as ft
        ft.start_run("script")
        ft.log("x", 1.0)
        raise RuntimeError("diverged")
        """
    )
    _, err = child.communicate(timeout=60)
    assert child.returncode == 1
    assert "diverged" in err
    (rdir,) = run_dirs(root)
    m = meta(rdir)
    assert m["status"] == "failed"
    assert m["error"] == {
        "type": "RuntimeError",
        "message": "diverged",
        "traceback": m["error"]["traceback"],
    }
    assert pl.DataFrame(read_run(rdir)).height == 1


def test_a_script_that_ends_normally_is_finished(root: Path) -> None:
    child = python("import ferrotrack.core as ft\nft.start_run()\nft.log('x', 1.0)\n")
    child.communicate(timeout=60)
    assert child.returncode == 0
    (rdir,) = run_dirs(root)
    assert meta(rdir)["status"] == "finished"


def test_a_child_with_the_run_dir_in_its_environment_logs_into_the_run(root: Path) -> None:
    with ft.start_run("parent") as run:
        run.log("parent/x", 1.0)
        child = python(
            """
            import ferrotrack.core as ft
            for i in range(100):
                ft.log("child/x", float(i))
            """,
            env={"FERROTRACK_RUN_DIR": str(run.run_dir)},
        )
        _, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
    df = pl.DataFrame(read_run(run.run_dir)).with_columns(pl.col("name").cast(pl.String))
    assert df.filter(pl.col("name") == "child/x").height == 100
    assert (run.run_dir / "summary-1.parquet").exists()
    assert meta(run.run_dir)["status"] == "finished"


def test_two_processes_log_into_one_run_as_two_ranks(root: Path) -> None:
    run_id = "0" * 31 + "1"
    code = f"""
        import ferrotrack.core as ft, os
        rank = int(os.environ["RANK"])
        run = ft.start_run("ddp", run_id="{run_id}", resume=rank > 0) if rank == 0 else None
        if rank > 0:
            import time
            while not os.path.exists(os.environ["RUN_JSON"]):
                time.sleep(0.01)
            run = ft.attach_run(os.path.dirname(os.environ["RUN_JSON"]))
        for i in range(50_000):
            run.log("loss", float(i))
        run.finish()
    """
    run_json = root / "experiment=default" / f"run={run_id}" / "run.json"
    procs = [python(code, env={"RANK": str(r), "RUN_JSON": str(run_json)}) for r in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    df = pl.DataFrame(read_run(run_json.parent))
    assert df.height == 100_000
    for rank in (0, 1):
        part = pl.DataFrame(read_run(run_json.parent, rank))
        assert part["step"].to_list() == list(range(50_000))


def test_eight_threads_of_a_million_points_each(root: Path) -> None:
    n = 1_000_000
    with ft.start_run("threads") as run:

        def work(t: int) -> None:
            log, name = run.log, f"thread/{t}"
            for i in range(n):
                log(name, i)

        pool = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for th in pool:
            th.start()
        for th in pool:
            th.join()
    df = pl.DataFrame(read_run(run.run_dir))
    assert df.height == 8 * n
    check = df.group_by("name").agg(
        pl.len(), (pl.col("step") == pl.int_range(pl.len())).all().alias("in_order")
    )
    assert check["len"].to_list() == [n] * 8
    assert check["in_order"].all()


def test_a_killed_writer_keeps_the_heartbeat_recent_until_then(root: Path) -> None:
    child = python(
        """
        import ferrotrack.core as ft, time
        run = ft.start_run(flush_interval=0.05)
        print(run.run_dir, flush=True)
        time.sleep(60)
        """
    )
    assert child.stdout is not None
    rdir = Path(child.stdout.readline().strip())
    first = meta(rdir)["heartbeat"]
    assert isinstance(first, int)
    deadline = time.monotonic() + 10
    while meta(rdir)["heartbeat"] <= first:  # the flush thread beats every 50 ms
        assert time.monotonic() < deadline, "the heartbeat never moved"
        time.sleep(0.01)
    child.kill()
    child.wait()
