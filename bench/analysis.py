"""Benchmark of ferrotrack.core.analysis; writes its section of docs/benchmarks.md.

    .venv/bin/python bench/analysis.py            # full size: 10,000 runs, 100 M points
    .venv/bin/python bench/analysis.py --scale 0.05   # a quick look

Targets (issue 3): runs() over 10,000 runs <= 1 s; reading 100 M points of 1,000 runs
>= 25 M points/s and <= 1.25x polars reading the same points from one Parquet file;
the final value of one metric for 10,000 runs <= 0.5 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.analysis import final_values, metrics, runs
from ferrotrack.core.store.layout import new_run_id, run_dir

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
START, END = "<!-- analysis:start -->", "<!-- analysis:end -->"
METRICS = ("train/loss", "train/acc", "val/loss", "lr")


def write_run(
    root: Path, experiment: str, points_per_metric: int, rng: np.random.Generator
) -> None:
    """One finished run, written with the native writer as start_run would."""
    rid = new_run_id()
    folder = run_dir(root, experiment, rid)
    now = time.time_ns()
    with MetricWriter(folder, background=False, durability="none") as writer:
        meta = {
            "format_version": 1,
            "run_id": rid,
            "name": rid[-8:],
            "experiment": experiment,
            "status": "finished",
            "started": now,
            "ended": now,
            "flush_interval": 1.0,
            "tags": {"bench": "analysis"},
            "parent": None,
        }
        writer.set_run_meta(json.dumps(meta))
        for name in METRICS:
            writer.log_array(name, rng.random(points_per_metric))
    params = {"lr": float(rng.random()), "optim": {"name": "adam", "wd": 0.01}, "seed": 1}
    (folder / "params.json").write_text(json.dumps(params))


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "not met")


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def paired(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each function over ``rounds`` rounds, run in turn within each round
    (after one warm-up round), so that a ratio is taken between neighbours in time."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(rounds + 1):
        for name, fn in fns.items():
            gc.collect()
            t = time.perf_counter()
            fn()
            if round_:
                times[name].append(time.perf_counter() - t)
    return times


def ratio(times: dict[str, list[float]], a: str, b: str) -> tuple[float, float, float]:
    """Median, lowest and highest of the per-round ratios a/b."""
    pairs = [x / y for x, y in zip(times[a], times[b], strict=True)]
    return statistics.median(pairs), min(pairs), max(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full size")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: tmp)")
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds of the reads")
    args = parser.parse_args()
    n_runs = max(10, int(10_000 * args.scale))
    n_point_runs = max(2, int(1_000 * args.scale))
    per_metric = 25_000  # 4 metrics: 100 k points per run
    scratch = Path(tempfile.mkdtemp(prefix="ft-bench-", dir=args.dir))
    rng = np.random.default_rng(0)
    try:
        many, big = scratch / "many", scratch / "big"
        t = time.perf_counter()
        for i in range(n_runs):
            write_run(many, f"e{i % 4}", 25, rng)
        for i in range(n_point_runs):
            write_run(big, f"e{i % 4}", per_metric, rng)
        gen_s = time.perf_counter() - t

        runs_s = best_of(lambda: runs(many))
        final_s = best_of(lambda: final_values("val/loss", many))
        total = n_point_runs * per_metric * len(METRICS)
        frame = metrics(big).collect()
        assert frame.height == total, (frame.height, total)
        one, one_all = scratch / "one.parquet", scratch / "one-all-columns.parquet"
        encodings = {
            "step": "DELTA_BINARY_PACKED",
            "timestamp": "DELTA_BINARY_PACKED",
            "value": "BYTE_STREAM_SPLIT",
        }
        settings = {"compression": "zstd", "compression_level": 3, "row_group_size": 1 << 20}
        table = frame.to_arrow()
        pq.write_table(
            table.select(["name", "step", "timestamp", "value"]),
            one,
            use_dictionary=["name"],
            column_encoding=encodings,
            **settings,
        )
        # The same points with the columns a run's folder names stand for, as one file.
        pq.write_table(
            table,
            one_all,
            use_dictionary=["experiment", "run_id", "name"],
            column_encoding=encodings,
            **settings,
        )
        del frame, table
        files = [str(p) for p in sorted(big.glob("*/*/metrics/*.parquet"))]
        os.sync()  # reads must not share the disk with the write-back of the store
        timed = paired(
            {
                "metrics": lambda: metrics(big).collect(),
                "one": lambda: pl.read_parquet(one),
                "one_all": lambda: pl.read_parquet(one_all),
                "plain": lambda: pl.scan_parquet(files, hive_partitioning=False).collect(),
            },
            rounds=args.rounds,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    med = {name: statistics.median(ts) for name, ts in timed.items()}
    read_s = med["metrics"]
    rate = total / read_s / 1e6
    vs_one, vs_one_lo, vs_one_hi = ratio(timed, "metrics", "one")
    vs_all = ratio(timed, "metrics", "one_all")[0]
    plain_vs_one = ratio(timed, "plain", "one")[0]
    full = args.scale >= 1.0
    rows = [
        ("`runs()` over {} runs".format(f"{n_runs:,}"), f"{runs_s:.3f} s", "≤ 1 s", runs_s <= 1.0),
        (
            "final value of one metric, {} runs".format(f"{n_runs:,}"),
            f"{final_s:.3f} s",
            "≤ 0.5 s",
            final_s <= 0.5,
        ),
        (
            f"`metrics().collect()`: {total / 1e6:.0f} M points of {n_point_runs:,} runs",
            f"{read_s:.2f} s = {rate:.1f} M points/s",
            "≥ 25 M points/s",
            rate >= 25,
        ),
        (
            "… against polars reading the same points from one Parquet file",
            f"{med['one']:.2f} s → {vs_one:.2f}× (rounds: {vs_one_lo:.2f}–{vs_one_hi:.2f}×)",
            "≤ 1.25×",
            vs_one <= 1.25,
        ),
        (
            "… (for scale) polars reading one file holding all 7 columns of `metrics()`",
            f"{med['one_all']:.2f} s → {vs_all:.2f}×",
            "",
            None,
        ),
        (
            f"… (for scale) polars scanning the same {len(files):,} segment files, "
            "4 columns, no ferrotrack code",
            f"{med['plain']:.2f} s = {plain_vs_one:.2f}× one file",
            "",
            None,
        ),
    ]
    cmd = "`.venv/bin/python bench/analysis.py" + ("" if full else f" --scale {args.scale}") + "`"
    lines = [
        START,
        "## Analysis (`bench/analysis.py`)",
        "",
        f"Reproduce: {cmd} ({'full size' if full else f'scaled to {args.scale:g} of full size'}; "
        f"store generation took {gen_s:.0f} s). Machine: {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, polars {pl.__version__}. "
        f"`runs()` and final value: best of 3. Reads: medians of {args.rounds} rounds after a "
        "warm-up, each round running the four reads in turn; ratios are medians of the "
        "per-round ratios.",
        "",
        "| measure | result | target | met |",
        "| --- | --- | --- | --- |",
        *(f"| {m} | {r} | {t} | {_verdict(ok)} |" for m, r, t, ok in rows),
        END,
    ]
    section = "\n".join(lines)
    print(section)
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    text = (
        pattern.sub(lambda _: section, text)
        if pattern.search(text)
        else (text.rstrip("\n") + "\n\n" + section + "\n")
    )
    DOC.write_text(text)


if __name__ == "__main__":
    main()
