"""Plugin discovery time, and logging throughput with backends attached to an orchestrator.

Run: ``.venv/bin/python bench/plugins.py [--quick]``.
Writes the ``plugins`` section of ``docs/benchmarks.md``.

Logging goes through ``start_run(backends=[...])``: the store's flush thread hands each
flushed batch to the run's plugin session, which feeds the orchestrator on its own threads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _report import machine, verdict, write_section

GROUPS = ["backends", "collectors", "processors", "frameworks", "postprocess"]
KINDS = ["BACKEND", "COLLECTOR", "PROCESSOR", "FRAMEWORK", "POSTPROCESS"]

_PLUGIN = """
from ferrotrack.core.plugins import PluginBase, PluginMetadata, PluginType

class Plugin{i}(PluginBase):
    @classmethod
    def get_metadata(cls):
        return PluginMetadata(name="bench{i}", version="1.0.{i}", type=PluginType.{kind},
                              dependencies=["json"])
"""

_PROBE = """
import sys, time, json
sys.path.insert(0, {site!r})
import ferrotrack.core.plugins as p
t0 = time.perf_counter(); found = p.discover(); t1 = time.perf_counter()
p.discover(); t2 = time.perf_counter()
print(json.dumps({{"first": t1 - t0, "cached": t2 - t1, "found": len(found)}}))
"""


def make_site(folder: Path, n: int) -> None:
    """A distribution with ``n`` plugins, one module each, spread over the groups."""
    lines: dict[str, list[str]] = {g: [] for g in GROUPS}
    for i in range(n):
        group, kind = GROUPS[i % len(GROUPS)], KINDS[i % len(KINDS)]
        (folder / f"bench_plugin_{i}.py").write_text(
            textwrap.dedent(_PLUGIN.format(i=i, kind=kind))
        )
        lines[group].append(f"bench{i} = bench_plugin_{i}:Plugin{i}")
    info = folder / "ferrotrack_bench_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ferrotrack-bench-plugins\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "".join(f"[ferrotrack.{g}]\n" + "\n".join(ls) + "\n\n" for g, ls in lines.items())
    )


def discovery_times(n: int, repeat: int) -> dict[str, float]:
    """Median first (uncached, fresh process) and cached discovery with ``n`` plugins."""
    with tempfile.TemporaryDirectory() as tmp:
        make_site(Path(tmp), n)
        runs = []
        for _ in range(repeat):
            out = subprocess.run(
                [sys.executable, "-c", _PROBE.format(site=tmp)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(out.stdout))
    found = min(r["found"] for r in runs)
    if found < n:
        raise RuntimeError(f"only {found} of {n} plugins were discovered")
    return {k: statistics.median(r[k] for r in runs) for k in ("first", "cached")}


def backend(kind: str) -> Any:
    """A backend that sleeps 50 ms per batch, or one that raises on every call."""
    from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

    class Bench(BackendPlugin):
        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name=kind, type=PluginType.BACKEND)

        def handle_batch(self, batch: Any) -> None:
            if kind == "raising":
                raise ConnectionError("down")
            time.sleep(0.05)

    return Bench()


def log_rate(mode: str, n: int) -> float:
    """ns per ``Run.log`` call: no backend (``none``), or one ``slow`` or ``raising`` backend."""
    import ferrotrack.core as ft
    from ferrotrack.core.settings import FerrotrackSettings, OrchestratorSettings

    settings = FerrotrackSettings(
        orchestrator=OrchestratorSettings(
            max_failures=10**9, backoff_initial=0.01, backoff_max=0.05, drain_timeout=0.0
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        backends = [] if mode == "none" else [backend(mode)]
        run = ft.start_run(root=tmp, flush_interval=0.05, backends=backends, settings=settings)
        log = run.log
        t0 = time.perf_counter()
        for s in range(n):
            log("loss", 0.5, s)
        elapsed = time.perf_counter() - t0
        run.finish()
    return elapsed / n * 1e9


def main() -> None:
    """Measures and writes the report section."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer points and repeats")
    args = parser.parse_args()
    n = 500_000 if args.quick else 10_000_000
    repeat = 3 if args.quick else 5
    disc = discovery_times(50, repeat)
    rates: dict[str, list[float]] = {"none": [], "slow": [], "raising": []}
    for _ in range(repeat):  # interleaved, so drift on a shared machine hits all modes alike
        for mode, times in rates.items():
            times.append(log_rate(mode, n))
    best = {m: min(v) for m, v in rates.items()}
    rows = [
        "| measure | result | target | status |",
        "| --- | --- | --- | --- |",
        f"| discovery of 50 plugins, first call (fresh process) | {disc['first'] * 1e3:.1f} ms "
        f"| < 50 ms | {verdict(disc['first'] < 0.05)} |",
        f"| discovery, cached call | {disc['cached'] * 1e6:.1f} µs |  |  |",
        f"| `Run.log(name, value, step)`, no backend | {best['none']:.0f} ns/point | baseline |  |",
    ]
    for mode, label in [
        ("slow", "a backend sleeping 50 ms per batch"),
        ("raising", "a backend raising on every call"),
    ]:
        ratio = best[mode] / best["none"]
        rows.append(
            f"| `Run.log` with {label} | {best[mode]:.0f} ns/point ({ratio:.2f}×) "
            f"| ≤ 1.10× | {verdict(ratio <= 1.10)} |"
        )
    body = (
        "## Plugins and orchestrator (`bench/plugins.py`)\n\n"
        f"Reproduce: `.venv/bin/python bench/plugins.py{' --quick' if args.quick else ''}`. "
        f"Best of {repeat} runs of {n:,} `log` calls (modes interleaved; best, not median, "
        f"because the machine is shared), flush every 50 ms; discovery: median of {repeat} "
        f"fresh processes; {machine()}.\n"
        "Backends are attached with `start_run(backends=[...])`; the store's flush thread "
        "feeds them flushed batches, so the loop never waits on a backend.\n\n" + "\n".join(rows)
    )
    write_section("plugins", body)
    print(body)


if __name__ == "__main__":
    main()
