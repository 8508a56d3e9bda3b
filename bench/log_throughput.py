"""How fast points go into the store, how small they are on disk, how much memory it takes.

Run: ``just bench`` or ``.venv/bin/python bench/log_throughput.py [--quick]``.
Writes the ``log_throughput`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ferrotrack.core import MetricWriter

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, median_time, verdict, write_section


def baseline_append(n: int) -> None:
    """(a) The plain Python loop every tracker call is compared with."""
    rows: list[tuple[str, int, float, float]] = []
    append, now = rows.append, time.time
    for s in range(n):
        append(("loss", s, now(), 0.5))


def one_scalar_per_call(w: MetricWriter, n: int) -> None:
    """(b) ``log(name, value, step)``."""
    log = w.log
    for s in range(n):
        log("loss", 0.5, s)


def ten_per_call(w: MetricWriter, calls: int) -> None:
    """(c) ``log_many`` with 10 metrics per call."""
    row = {f"m{i}": 0.5 for i in range(10)}
    log_many = w.log_many
    for s in range(calls):
        log_many(row, s)


def random_walk(n: int, seed: int = 0) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(0.0, 1.0, n))


def measure_speed(root: Path, n: int, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    out["a_ns"] = median_time(lambda: baseline_append(n), repeat) / n * 1e9
    w = MetricWriter(root / "b")
    out["b_ns"] = median_time(lambda: one_scalar_per_call(w, n), repeat) / n * 1e9
    w.close()
    out["c_ns"] = (
        fresh_writer_median(root / "c", lambda w: ten_per_call(w, n // 10), repeat) / n * 1e9
    )
    values = random_walk(1_000_000)
    d_times = fresh_writer_times(root / "d", lambda w: w.log_array("x", values), repeat)
    out["d_pps"] = 1_000_000 / sorted(d_times)[len(d_times) // 2]
    # The first burst of its size in the process finds no recycled columns: page faults.
    out["d_first_pps"] = 1_000_000 / d_times[0]
    out["encode_ns"] = encode_time(root / "e", values) / len(values) * 1e9
    return out


def fresh_writer_times(
    folder: Path, fn: Callable[[MetricWriter], None], repeat: int
) -> list[float]:
    """Times of ``fn`` on a new writer each time (closed outside the timing), in order:
    the calls are measured, the flush thread's work that overlaps them is not."""
    times = []
    for i in range(repeat):
        w = MetricWriter(folder / str(i))
        t0 = time.perf_counter()
        fn(w)
        times.append(time.perf_counter() - t0)
        w.close()
    return times


def fresh_writer_median(folder: Path, fn: Callable[[MetricWriter], None], repeat: int) -> float:
    """Median of :func:`fresh_writer_times`."""
    times = fresh_writer_times(folder, fn, repeat)
    return sorted(times)[len(times) // 2]


def encode_time(folder: Path, values: np.ndarray) -> float:
    """Seconds the store takes to encode and write ``len(values)`` buffered points."""
    w = MetricWriter(folder, background=False)
    log = w.log
    for s, v in enumerate(values.tolist()):
        log("train/loss", v, s)
    t0 = time.perf_counter()
    w.flush()
    elapsed = time.perf_counter() - t0
    w.close()
    return elapsed


def measure_bytes(root: Path, n: int) -> float:
    """Bytes per point of a noisy random walk logged one call at a time."""
    w = MetricWriter(root / "bytes")
    log = w.log
    for s, v in enumerate(random_walk(n).tolist()):
        log("train/loss", v, s)
    w.close()
    size = sum(p.stat().st_size for p in (root / "bytes" / "metrics").glob("*.parquet"))
    return size / n


def measure_close(root: Path, n: int) -> float:
    """Seconds ``close()`` takes right after ``n`` points were logged."""
    w = MetricWriter(root / "close")
    log = w.log
    for s in range(n):
        log("loss", 0.5, s)
    t0 = time.perf_counter()
    w.close()
    return time.perf_counter() - t0


RSS_CHILD = """
import resource, sys, time
from ferrotrack.core import MetricWriter
def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024
n, path = int(sys.argv[1]), sys.argv[2]
w = MetricWriter(path)
log = w.log
log("loss", 0.0, 0)
before = rss_kib()
for s in range(1, n):
    log("loss", 0.5, s)
w.close()
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print((peak - before) / 1024)
"""


def measure_rss(root: Path, n: int) -> float:
    """Peak RSS growth (MiB) of a process while it logs ``n`` points."""
    out = subprocess.run(
        [sys.executable, "-c", RSS_CHILD, str(n), str(root / "rss")],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    n, repeat = (200_000, 3) if args.quick else (1_000_000, 5)
    close_n, rss_n = (1_000_000, 5_000_000) if args.quick else (10_000_000, 50_000_000)

    root = Path(tempfile.mkdtemp(prefix="ferrotrack-bench-"))
    try:
        r = measure_speed(root, n, repeat)
        r["bytes"] = measure_bytes(root, 1_000_000)
        r["close_ms"] = measure_close(root, close_n) * 1e3
        r["rss_mib"] = measure_rss(root, rss_n)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    a = r["a_ns"]
    rows = [
        (
            "(a) `list.append((name, step, time.time(), value))`",
            f"{a:.0f} ns/point",
            "1.00×",
            "baseline",
            "",
        ),
        (
            "(b) `log(name, value, step)`",
            f"{r['b_ns']:.0f} ns/point",
            f"{r['b_ns'] / a:.2f}×",
            "≤ 0.5×",
            verdict(r["b_ns"] <= 0.5 * a),
        ),
        (
            "(c) `log_many` of 10 metrics, per point",
            f"{r['c_ns']:.0f} ns/point",
            f"{r['c_ns'] / a:.2f}×",
            "≤ 0.15×",
            verdict(r["c_ns"] <= 0.15 * a),
        ),
        (
            "encoding + writing a segment (flush thread), per point",
            f"{r['encode_ns']:.0f} ns/point",
            f"{r['encode_ns'] / a:.2f}×",
            "",
            "",
        ),
        (
            "(d) `log_array` of 1 M points",
            f"{r['d_pps'] / 1e6:.0f} M points/s",
            "",
            "≥ 100 M/s",
            verdict(r["d_pps"] >= 100e6),
        ),
        (
            "… the first such call in the process (no recycled columns yet, page faults)",
            f"{r['d_first_pps'] / 1e6:.0f} M points/s",
            "",
            "",
            "",
        ),
        (
            "Parquet size, noisy random walk (1 M points)",
            f"{r['bytes']:.2f} bytes/point",
            "",
            "≤ 8",
            verdict(r["bytes"] <= 8),
        ),
        (
            f"`close()` after {close_n / 1e6:.0f} M points",
            f"{r['close_ms']:.0f} ms",
            "",
            "≤ 100 ms",
            verdict(r["close_ms"] <= 100),
        ),
        (
            f"peak RSS growth while logging {rss_n / 1e6:.0f} M points",
            f"{r['rss_mib']:.0f} MiB",
            "",
            "≤ 100 MiB",
            verdict(r["rss_mib"] <= 100),
        ),
    ]
    table = ["| measure | result | vs (a) | target | status |", "| --- | --- | --- | --- | --- |"]
    table += [f"| {' | '.join(row)} |" for row in rows]
    quick = " --quick" if args.quick else ""
    body = "\n".join(
        [
            "## Logging throughput (`bench/log_throughput.py`)",
            "",
            f"Reproduce: `.venv/bin/python bench/log_throughput.py{quick}` "
            f"(or `just bench`). Medians of {repeat} runs of {n:,} points; {machine()}.",
            "",
            *table,
            "",
            "(b), (c) and (d) time the calls; the flush thread encodes on the other core "
            "meanwhile. Logging faster than the encoder for longer than the memory cap (32 MiB, "
            "about 1.2 M points) makes `log` wait for it: sustained throughput is then the "
            "encoder's. Each of (c) and (d) opens a new writer per run: columns that earlier "
            "writers flushed or closed come back from the process-wide pool (at most 64 MiB), "
            "so only the first burst of a size pays for fresh pages, as its row shows.",
        ]
    )
    write_section("log_throughput", body)
    print(body)
    if args.json:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
