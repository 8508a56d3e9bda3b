"""Writes one benchmark's section of ``docs/benchmarks.md``, leaving the others alone."""

from __future__ import annotations

import platform
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Every table below is written by a script under `bench/` (the command is given with it).\n"
    "Ratios are taken against a baseline measured in the same process and run, so they carry\n"
    "from one machine to another better than absolute times.\n"
)


def write_section(name: str, body: str) -> None:
    """Replaces the section between ``<!-- name:start -->`` and ``<!-- name:end -->``."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = BENCHMARKS_MD.read_text() if BENCHMARKS_MD.exists() else HEADER
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    BENCHMARKS_MD.write_text(text)


def machine() -> str:
    """One line describing where the figures were taken."""
    import os

    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}, {time.strftime('%Y-%m-%d')}"
    )


def median_time(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load_average(before: Sequence[float], after: Sequence[float]) -> str:
    """The sentence every table ends with: the machine's load before and after the run
    (the 2 cores are often shared, and ratios move with it)."""
    spell = ", ".join
    return (
        f"Load average (1, 5, 15 min) before: {spell(f'{x:.2f}' for x in before)}; "
        f"after: {spell(f'{x:.2f}' for x in after)}."
    )


def verdict(ok: bool) -> str:
    """Met / not met, as a table cell."""
    return "met" if ok else "**not met**"
