"""SIGKILL at random moments: every file readable, at most one flush interval lost, the run
reads as crashed, and ``ferrotrack doctor --fix`` leaves it consistent.

``FERROTRACK_KILLS`` sets the number of kills (20 by default; ``just stress`` runs 200).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from ferrotrack.core._native import read_run
from ferrotrack.core.store.catalog import effective_status

pytestmark = pytest.mark.slow

FLUSH_INTERVAL = 0.1
# Writing one segment takes milliseconds; the margin covers a loaded 2-core machine.
MARGIN_S = 1.0

CHILD = """
import sys, time
import ferrotrack.core as ft
run = ft.start_run("victim", root=sys.argv[1], flush_interval=float(sys.argv[2]),
                   params={"seed": int(sys.argv[3])})
print(run.run_dir, flush=True)
log, step = run.log, 0
while True:
    for _ in range(200):
        log("loss", 1.0 / (step + 1), step)
        log("acc", step * 1e-6, step)
        step += 1
    time.sleep(0.001)
"""


def kill_once(root: Path, seed: int) -> None:
    rng = random.Random(seed)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(FLUSH_INTERVAL), str(seed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    run_dir = Path(child.stdout.readline().strip())
    time.sleep(rng.uniform(0.05, 0.8))
    killed_at = time.time_ns()
    child.kill()
    child.wait()

    # Every file that is not a temporary leftover is readable.
    for f in run_dir.rglob("*.parquet"):
        pq.read_metadata(f)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "running"
    assert effective_status(meta) == "crashed"

    df = pl.DataFrame(read_run(run_dir)).with_columns(pl.col("name").cast(pl.String))
    for name in ("loss", "acc"):
        steps = df.filter(pl.col("name") == name)["step"]
        assert steps.to_list() == list(range(len(steps))), "no hole, no repeat"
    if df.height:
        last_ns = df["timestamp"].dt.epoch("ns").max()
        assert isinstance(last_ns, int)
        lost_s = (killed_at - last_ns) / 1e9
    else:
        lost_s = (killed_at - meta["started"]) / 1e9
    assert lost_s <= FLUSH_INTERVAL + MARGIN_S, f"lost the last {lost_s:.2f} s of points"

    doctor = subprocess.run(
        [
            sys.executable,
            "-m",
            "ferrotrack.core.cli",
            "--root",
            str(root),
            "doctor",
            "--fix",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "crashed"
    assert not list(run_dir.rglob(".*.tmp"))
    summary = pl.read_parquet(run_dir / "summary.parquet") if df.height else None
    if summary is not None:
        counts = dict(zip(summary["name"], summary["count"], strict=True))
        expected = df.group_by("name").len()
        assert counts == dict(zip(expected["name"], expected["len"], strict=True))
    again = subprocess.run(
        [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(root), "doctor", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, "doctor finds nothing left to fix: " + again.stdout


def test_random_sigkills_lose_at_most_one_flush_interval(tmp_path: Path) -> None:
    kills = int(os.environ.get("FERROTRACK_KILLS", "20"))
    for i in range(kills):
        kill_once(tmp_path / f"store{i}", seed=i)
