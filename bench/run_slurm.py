"""(4) of ``bench/run.py``: a 20-point Slurm array, submit to all done, against ``sbatch
--array`` by hand on the same cluster, in alternating rounds.

Ours: ``SlurmBackend().run_many(points)``: 20 ferrotrack runs opened, 20 batch scripts
written, ONE ``sbatch --array=0-19``, every task's exit code read and its run recorded,
until squeue no longer lists the array. By hand: one ``sbatch --array=0-19 --wrap`` of the
same command, then ``squeue`` polled every 50 ms until it lists nothing (as tight a loop as
one would write; ``sbatch --wait`` polls every few seconds). Both ask for the same
resources (one CPU per task, no concurrency limit: the node's CPUs are the limit).

When no controller answers, the test cluster is started for the measurement
(``packages/ferrotrack-run/tests/slurm_cluster.py``) and stopped after it.

Run alone: ``.venv/bin/python bench/run_slurm.py``.
"""

from __future__ import annotations

import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
COMMAND = "sleep 0.1"
ROUNDS = 3
"""Measured rounds of each, after one warm-up round of each."""


def _cluster() -> ModuleType:
    """The test cluster's module (imported from the run package's tests)."""
    tests = str(REPO / "packages" / "ferrotrack-run" / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    return importlib.import_module("slurm_cluster")


def by_hand(folder: Path, points: int) -> float:
    """Seconds from ``sbatch --array`` to squeue listing nothing of it."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        ["sbatch", "--parsable", f"--array=0-{points - 1}", "--nodes=1", "--ntasks=1",
         "--cpus-per-task=1", f"--output={folder}/%a.out", f"--chdir={folder}",
         "--wrap", COMMAND],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"sbatch failed: {done.stderr.strip()}")
    job = done.stdout.strip().split(";")[0]
    while True:
        queued = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i", "-j", job],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if queued.returncode == 0 and not queued.stdout.strip():
            break
        time.sleep(0.05)
    took = time.perf_counter() - started
    missing = [i for i in range(points) if not (folder / f"{i}.out").exists()]
    if missing:
        raise RuntimeError(f"by hand: tasks {missing} left no output")
    return took


def ours(folder: Path, points: int) -> float:
    """Seconds of ``SlurmBackend().run_many`` of ``points`` model runs."""
    from ferrotrack.run import ModelRun
    from ferrotrack.run.backends.slurm import SlurmBackend

    models = [
        ModelRun(run_id=f"point-{i}", output_dir=folder, config={"i": i}, command=COMMAND)
        for i in range(points)
    ]
    started = time.perf_counter()
    results = SlurmBackend().run_many(models)
    took = time.perf_counter() - started
    if not all(results):
        raise RuntimeError(f"ours: {results.count(False)} of {points} model runs failed")
    return took


def bench_slurm_array(points: int = 20) -> dict[str, float]:
    """Median seconds, submit to all done, of ours and by hand (``ours``, ``by_hand``,
    ``ratio``), alternating which goes first, after one warm-up round of each."""
    module = _cluster()
    cluster = module.ensure_cluster()
    saved = {name: os.environ.get(name) for name in ("SLURM_CONF", "FERROTRACK_ROOT")}
    os.environ.update(cluster.env)
    try:
        with tempfile.TemporaryDirectory(prefix="ferrotrack-bench-slurm-") as name:
            tmp = Path(name)
            os.environ["FERROTRACK_ROOT"] = str(tmp / "store")  # never a user's store
            mine: list[float] = []
            hand: list[float] = []
            for round_ in range(ROUNDS + 1):
                first_ours = round_ % 2 == 0
                for which in ("ours", "hand") if first_ours else ("hand", "ours"):
                    folder = tmp / f"{which}-{round_}"
                    if which == "ours":
                        mine.append(ours(folder, points))
                    else:
                        hand.append(by_hand(folder, points))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cluster.stop()
    ours_s, hand_s = statistics.median(mine[1:]), statistics.median(hand[1:])
    return {
        "ours": ours_s,
        "by_hand": hand_s,
        "ratio": ours_s / hand_s,
        "ours_min": min(mine[1:]),
        "by_hand_min": min(hand[1:]),
    }


if __name__ == "__main__":
    for key, value in bench_slurm_array().items():
        print(f"{key}: {value:.3f}")
