"""What ``ferrotrack.run`` costs on top of the engines it drives, each figure against a
baseline measured in the same run:

1. the local backend per model run (a ferrotrack run opened and closed, logs captured)
   against a bare ``subprocess.run`` of the same 0.1 s command (target ≤ 1.2×);
2. a 100-point sweep on a Dask ``LocalCluster`` against the same tasks submitted to Dask by
   hand (≤ 1.2×), and (3) the same on Ray;
4. a 20-point Slurm array: submit to all done, against ``sbatch --array`` by hand;
5. cancelling a running sweep: seconds until everything is gone (target < 5 s).

Run: ``.venv/bin/python bench/run.py [--quick]`` (Slurm needs the test cluster up: the
run package's tests start it, ``packages/ferrotrack-run/tests/slurm_cluster.py``). Writes
the ``run`` section of ``docs/benchmarks.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import load_average, machine, verdict, write_section

COMMAND = ["sleep", "0.1"]


def attempt(label: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, or the reason it could not run (one line), printed with its traceback."""
    try:
        return fn()
    except Exception as exc:
        traceback.print_exc()
        print(f"{label}: could not run: {exc}", file=sys.stderr)
        return f"not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


def engines() -> Any:
    """``bench/run_engines.py`` (Dask and Ray), imported when first measured."""
    return importlib.import_module("run_engines")


def local_vs_bare(root: Path, rounds: int) -> dict[str, float]:
    """Median seconds per model run on the local backend and per bare ``subprocess.run``,
    in alternating rounds (the first of each discarded as warm-up)."""
    from ferrotrack.run import ModelRun

    os.environ["FERROTRACK_ROOT"] = str(root)
    model = ModelRun(run_id="bench", output_dir=root / "models", command=COMMAND)
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(rounds + 1):
        t0 = time.perf_counter()
        subprocess.run(COMMAND, check=True)
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        if not model.run(backend="local"):  # the user's path: the backend found by name
            raise RuntimeError("the local backend's model run failed")
        ours.append(time.perf_counter() - t0)
    ours_s, bare_s = statistics.median(ours[1:]), statistics.median(bare[1:])
    return {"ours": ours_s, "bare": bare_s, "ratio": ours_s / bare_s}


def engine_row(label: str, result: Any, target: str, limit: float) -> str:
    if isinstance(result, str):
        return f"| {label} | {result} | | | {target} | |"
    ours, hand = result["ours"], result["by_hand"]
    ratio = ours / hand
    return (
        f"| {label} | {ours:.2f} s | {hand:.2f} s | {ratio:.2f}× | {target} "
        f"| {verdict(ratio <= limit)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    rounds = 5 if args.quick else 21
    points = 20 if args.quick else 100

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ferrotrack-bench-run-") as name:
        tmp = Path(name)
        local = attempt("1. local", lambda: local_vs_bare(tmp / "local", rounds))
        os.environ["FERROTRACK_ROOT"] = str(tmp / "engines")
        os.chdir(tmp)
        dask = attempt("2. dask", lambda: engines().bench_dask_sweep(points))
        ray = attempt("3. ray", lambda: engines().bench_ray_sweep(points))
        cancel_dask = attempt("5. cancel (dask)", lambda: engines().bench_cancel("dask"))
        slurm = attempt(
            "4. slurm", lambda: importlib.import_module("run_slurm").bench_slurm_array(20)
        )
    load_after = os.getloadavg()

    rows = [
        "| measure | ours | baseline (same run) | ratio | target | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    if isinstance(local, str):
        rows.append(f"| (1) local backend, one model run of `sleep 0.1` | {local} | | | ≤ 1.2× | |")
    else:
        rows.append(
            f'| (1) `model.run(backend="local")` of `{" ".join(COMMAND)}` (the backend found '
            f"by name, a ferrotrack run opened and closed, output captured) "
            f"| {local['ours'] * 1e3:.1f} ms "
            f"| bare `subprocess.run`: {local['bare'] * 1e3:.1f} ms | {local['ratio']:.3f}× "
            f"| ≤ 1.2× | {verdict(local['ratio'] <= 1.2)} |"
        )
    rows.append(engine_row(f"(2) {points}-point sweep on a Dask `LocalCluster`", dask,
                           "≤ 1.2×", 1.2))  # fmt: skip
    rows.append(engine_row(f"(3) {points}-point sweep on Ray (local)", ray, "≤ 1.2×", 1.2))
    rows.append(engine_row("(4) 20-point Slurm array, submit to all done", slurm,
                           "close to by hand", 1.5))  # fmt: skip
    if isinstance(cancel_dask, str):
        rows.append(f"| (5) cancel a running Dask sweep | {cancel_dask} | | | < 5 s | |")
    else:
        rows.append(
            f"| (5) cancel a running Dask sweep: until every process is gone "
            f"| {cancel_dask:.2f} s | | | < 5 s | {verdict(cancel_dask < 5)} |"
        )
    quick = " --quick" if args.quick else ""
    body = "\n".join(
        [
            "## Run backends (`bench/run.py`)",
            "",
            f"Reproduce: `.venv/bin/python bench/run.py{quick}` ({machine()}). (1): medians "
            f"of {rounds} alternating rounds after a warm-up; (2)–(4): the same commands "
            "through our backend's `run_many` and submitted by hand to the same warm engine "
            "(`bench/run_engines.py`, `bench/run_slurm.py` say how).",
            "",
            *rows,
            "",
            load_average(load_before, load_after),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("run", body)


if __name__ == "__main__":
    main()
