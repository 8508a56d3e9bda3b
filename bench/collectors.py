"""What the ``system`` collector costs: its CPU time at a 1 s interval, as a share of one
core (target ≤ 1 %), against the same run without it, in one process.

Two windows of ``--seconds`` each (default 60), the process idle in both (a ferrotrack run
open, its flush thread running): first a run without collectors, then a run with
``collectors=[system at 1 s]``. The figure is the difference of the process's CPU time
(user + system, ``os.times``) between the windows, over the window's length. Beside it,
the collector thread's own CPU time per sample (``time.thread_time`` around each sample),
which the rest of the machine's load does not move.

Run: ``.venv/bin/python bench/collectors.py [--seconds 60] [--no-write]``; writes the
``collectors`` section of ``docs/benchmarks.md`` (``--no-write``: print only). A store in
a temporary folder is used and removed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import load_average, machine, verdict, write_section

TARGET = 1.0  # % of one core


def process_cpu() -> float:
    t = os.times()
    return t.user + t.system


def window(seconds: float, collectors: list[Any]) -> float:
    """CPU seconds this process used while a run stayed open, idle, for ``seconds``."""
    import ferrotrack.core as ft

    with ft.start_run("bench", experiment="bench-collectors", collectors=collectors):
        before = process_cpu()
        time.sleep(seconds)  # the bench's own idle: what is measured is the collector
        used = process_cpu() - before
    return used


def timed_collector(interval: float) -> Any:
    """A system collector that adds up its thread's CPU time per sample."""
    from ferrotrack.collectors.system import SystemCollector

    class Timed(SystemCollector):
        cpu = 0.0

        def sample(self) -> None:
            t0 = time.thread_time()
            super().sample()
            self.cpu += time.thread_time() - t0

    collector = Timed()
    collector.initialize({"interval": interval})
    return collector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each window")
    parser.add_argument("--no-write", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    seconds = args.seconds
    with tempfile.TemporaryDirectory(prefix="ferrotrack-bench-collectors-") as store:
        os.environ["FERROTRACK_ROOT"] = store
        load_before = os.getloadavg()
        window(min(seconds, 1.0), [])  # warm-up: imports, first run
        base = window(seconds, [])
        collector = timed_collector(1.0)
        with_system = window(seconds, [collector])
        load_after = os.getloadavg()
    share = 100.0 * (with_system - base) / seconds
    samples = max(collector.samples, 1)
    per_sample_ms = 1e3 * collector.cpu / samples
    thread_share = 100.0 * collector.cpu / seconds
    ok = share <= TARGET
    cmd = "" if seconds == 60 else f" --seconds {seconds:g}"
    body = "\n".join(
        [
            "## Collectors (`bench/collectors.py`)",
            "",
            f"Reproduce: `.venv/bin/python bench/collectors.py{cmd}` ({machine()}). Two "
            f"windows of {seconds:g} s in one process, idle with a run open: without "
            "collectors, then with the `system` collector at a 1 s interval (every metric "
            "on: per core, process tree). CPU time is the process's user + system time.",
            "",
            "| measure | without | with `system` at 1 s | cost, % of one core | target | status |",
            "| --- | --- | --- | --- | --- | --- |",
            f"| process CPU over {seconds:g} s | {base * 1e3:.0f} ms | {with_system * 1e3:.0f} ms "
            f"| {share:.2f} % | ≤ {TARGET:g} % | {verdict(ok)} |",
            f"| the collector thread's own CPU ({collector.samples} samples) | | "
            f"{collector.cpu * 1e3:.0f} ms, {per_sample_ms:.2f} ms per sample "
            f"| {thread_share:.2f} % | ≤ {TARGET:g} % | {verdict(thread_share <= TARGET)} |",
            "",
            load_average(load_before, load_after)
            + " Errors while sampling: "
            + str(collector.errors)
            + ".",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("collectors", body)


if __name__ == "__main__":
    main()
