"""What the experiment layer (``ferrotrack.experiment``) adds on top of core, each figure
against a baseline measured in the same run:

1. ``tracker_manager.track(Metric.TRAIN_LOSS, v, step)`` with only the local store, against
   ``Run.log`` on the same run (target ≤ 3×);
2. the pipeline wrappers per epoch: an ``@Pipeline.epoch_wrapper`` method doing nothing
   inside a ``@Pipeline.run_wrapper`` run, against a plain method call (target ≤ 20 µs);
3. expanding a 10,000-trial cartesian config (grid 10×10×10×10) from its YAML files to
   ``TrialRunSpec``s (target ≤ 1 s), against building one omegaconf ``DictConfig`` per trial.

Run: ``.venv/bin/python bench/experiment.py [--quick]``. Writes the ``experiment`` section
of ``docs/benchmarks.md`` (``--no-write``: print it only).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import load_average, machine, verdict, write_section

import ferrotrack.core as ft
from ferrotrack.core.settings import FerrotrackSettings
from ferrotrack.experiment.common import Level, Metric
from ferrotrack.experiment.config import expand_trials, load_config_dir, trial_runs

GRID_SIDE = 10
"""Options per grid key; four keys make GRID_SIDE**4 trials."""
BASELINE_SHARE = 10
"""The omegaconf baseline of (3) builds one DictConfig for every BASELINE_SHARE-th trial."""


def settings(root: Path) -> FerrotrackSettings:
    return FerrotrackSettings(root=root)


# ---- 1. track against Run.log ----------------------------------------------------------


def track_vs_log(root: Path, n: int, rounds: int) -> dict[str, float]:
    """ns per call of ``Run.log`` and of ``TrackerManager.track``, alternating rounds of
    ``n`` calls on one run (same buffer, same flush thread), medians over ``rounds``."""
    from ferrotrack.experiment.trackers.tracker_manager import TrackerManager

    log_ns: list[float] = []
    track_ns: list[float] = []
    with ft.start_run("track", experiment="bench", settings=settings(root), backends=[]) as run:
        manager = TrackerManager(run, level=Level.TRIAL_RUN)
        log, track, key = run.log, manager.track, Metric.TRAIN_LOSS
        step = 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            for s in range(step, step + n):
                log("train/loss", 0.5, s)
            log_ns.append((time.perf_counter() - t0) / n * 1e9)
            step += n
            t0 = time.perf_counter()
            for s in range(step, step + n):
                track(key, 0.5, s)
            track_ns.append((time.perf_counter() - t0) / n * 1e9)
            step += n
    return {
        "log_ns": statistics.median(log_ns),
        "track_ns": statistics.median(track_ns),
        # each round's ratio to the round beside it: a change of load between rounds cancels
        "ratio": statistics.median(t / b for t, b in zip(track_ns, log_ns, strict=True)),
    }


# ---- 2. the pipeline wrappers per epoch --------------------------------------------------


def wrapper_overhead(root: Path, epochs: int, rounds: int) -> dict[str, float]:
    """µs per epoch of an ``epoch_wrapper``'ed method doing nothing and of a plain method,
    alternating rounds inside one ``run_wrapper``'ed run; also with 4 epoch metrics set."""
    from ferrotrack.experiment.environment import Environment
    from ferrotrack.experiment.pipelines.pipeline import Pipeline

    class EpochBench(Pipeline):
        timings: dict[str, list[float]]

        @Pipeline.run_wrapper
        def run(self, config: DictConfig) -> None:
            n = int(config.epochs)
            self.timings = {"wrapped": [], "plain": [], "wrapped4": [], "plain4": []}
            cases: list[tuple[str, Callable[[int], Any]]] = [
                ("wrapped", self.wrapped_epoch),
                ("plain", self.plain_epoch),
                ("wrapped4", self.wrapped_epoch_metrics),
                ("plain4", self.plain_epoch_metrics),
            ]
            epoch = 0
            for _ in range(int(config.rounds)):
                for label, call in cases:
                    t0 = time.perf_counter()
                    for i in range(epoch, epoch + n):
                        call(i)
                    self.timings[label].append((time.perf_counter() - t0) / n * 1e6)
                    epoch += n
                    self.epoch_metrics.clear()

        @Pipeline.epoch_wrapper
        def wrapped_epoch(self, epoch_idx: int) -> None:
            return None

        def plain_epoch(self, epoch_idx: int) -> None:
            return None

        @Pipeline.epoch_wrapper
        def wrapped_epoch_metrics(self, epoch_idx: int) -> None:
            self._set_metrics(epoch_idx)

        def plain_epoch_metrics(self, epoch_idx: int) -> None:
            self._set_metrics(epoch_idx)

        def _set_metrics(self, epoch_idx: int) -> None:
            m = self.epoch_metrics
            m[Metric.TRAIN_LOSS] = m[Metric.VAL_LOSS] = 1.0 / (epoch_idx + 1)
            m[Metric.TRAIN_ACC] = m[Metric.VAL_ACC] = 0.5

    with ft.start_run("wrappers", experiment="bench", settings=settings(root), backends=[]) as run:
        env = Environment(root / "workspace", {}, level=Level.TRIAL_RUN, run=run)
        try:
            pipeline = EpochBench(env)
            pipeline.run(OmegaConf.create({"epochs": epochs, "rounds": rounds}))
        finally:
            env.close()
        out = {k: statistics.median(v) for k, v in pipeline.timings.items()}
        # What core's event log alone costs (an epoch records level_start and level_end).
        event_us = []
        for r in range(rounds):
            t0 = time.perf_counter()
            for i in range(r * epochs, (r + 1) * epochs):
                run.log_event("level_end", level="epoch", name="EpochBench", step=i, data={})
            event_us.append((time.perf_counter() - t0) / epochs * 1e6)
        out["event"] = statistics.median(event_us)
    return out


# ---- 3. expanding 10,000 trials ----------------------------------------------------------


def write_config(folder: Path) -> Path:
    """A config directory with realistic settings and one trial of a 4-key grid."""
    base = {
        "settings": {
            "seed": 42,
            "data": {"name": "cifar10", "root": "data", "augment": True, "workers": 4},
            "model": {"arch": "resnet", "depth": 18, "width": 64, "dropout": 0.1},
            "optimizer": {"name": "adam", "lr": 0.001, "betas": [0.9, 0.999], "wd": 0.0},
            "scheduler": {"name": "cosine", "warmup": 5},
            "pipeline": {"type": "Train", "epochs": 10, "batch_size": 128},
            "callbacks": [{"type": "EarlyStopping", "patience": 3}, {"type": "MetricsTracker"}],
        }
    }
    experiment = {
        "name": "grid",
        "id": 1,
        "desc": "a 10,000-trial grid",
        "settings": {"pipeline": {"epochs": 20}, "out": "runs/${pipeline.type}/${seed}"},
    }
    side = list(range(GRID_SIDE))
    grid = {
        "optimizer.lr": [10.0 ** -(1 + i / 3) for i in side],
        "model.depth": [10 + 2 * i for i in side],
        "model.dropout": [i / 20 for i in side],
        "pipeline.batch_size": [16 * (i + 1) for i in side],
    }
    trials = [{"name": "sweep", "repeat": 1, "grid": grid}]
    for name, data in (("base", base), ("experiment", experiment), ("trials", trials)):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def expansion(folder: Path, repeat: int) -> dict[str, float]:
    """Seconds to load + expand + make trial runs (medians), and the omegaconf baseline."""
    load_s, expand_s, runs_s, total_s = [], [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        cfg = load_config_dir(folder)
        t1 = time.perf_counter()
        trials = expand_trials(cfg)
        t2 = time.perf_counter()
        runs = trial_runs(trials)
        t3 = time.perf_counter()
        load_s.append(t1 - t0)
        expand_s.append(t2 - t1)
        runs_s.append(t3 - t2)
        total_s.append(t3 - t0)
    assert len(runs) == GRID_SIDE**4, len(runs)
    baseline = []  # timed on a tenth of the trials (it takes seconds), scaled up
    sample = trials[:: max(1, BASELINE_SHARE)]
    for _ in range(max(1, repeat // 2)):
        t0 = time.perf_counter()
        for spec in sample:
            OmegaConf.create(spec.settings)
        baseline.append((time.perf_counter() - t0) * len(trials) / len(sample))
    t0 = time.perf_counter()
    runs[-1].config()
    one_config = time.perf_counter() - t0
    return {
        "trials": float(len(runs)),
        "load_s": statistics.median(load_s),
        "expand_s": statistics.median(expand_s),
        "runs_s": statistics.median(runs_s),
        "total_s": statistics.median(total_s),
        "omegaconf_s": statistics.median(baseline),
        "one_config_ms": one_config * 1e3,
    }


# ---- report ------------------------------------------------------------------------------


def attempt(label: str, fn: Callable[[], dict[str, float]]) -> dict[str, float] | str:
    """The figures, or why they could not be taken (a part not written yet)."""
    print(f"{label}...", flush=True)
    try:
        return fn()
    except Exception as exc:  # reported in the table rather than stopping the other parts
        traceback.print_exc()
        return f"not run: {type(exc).__name__}: {exc}".replace("|", "/").splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    q = args.quick
    n, rounds = (50_000, 9) if q else (100_000, 31)
    epochs, epoch_rounds = (2_000, 3) if q else (10_000, 7)
    repeat = 3 if q else 7

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ferrotrack-bench-") as name:
        tmp = Path(name)
        t = attempt("1. track vs Run.log", lambda: track_vs_log(tmp / "store1", n, rounds))
        w = attempt(
            "2. wrappers per epoch",
            lambda: wrapper_overhead(tmp / "store2", epochs, epoch_rounds),
        )
        (tmp / "config").mkdir()
        e = attempt("3. expansion", lambda: expansion(write_config(tmp / "config"), repeat))
    load_after = os.getloadavg()

    rows = ["| measure | result | baseline (same run) | ratio / overhead | target | status |"]
    rows.append("| --- | --- | --- | --- | --- | --- |")
    if isinstance(t, str):
        rows.append(f"| (1) `tracker_manager.track(Metric.TRAIN_LOSS, ...)` | {t} | | | ≤ 3× | |")
    else:
        ratio = t["ratio"]
        rows.append(
            f"| (1) `tracker_manager.track(Metric.TRAIN_LOSS, v, step)`, local store only "
            f"| {t['track_ns']:.0f} ns/call | `Run.log`: {t['log_ns']:.0f} ns/call "
            f"| {ratio:.2f}× | ≤ 3× | {verdict(ratio <= 3)} |"
        )
    if isinstance(w, str):
        rows.append(f"| (2) `@Pipeline.epoch_wrapper`, per epoch | {w} | | | ≤ 20 µs | |")
    else:
        extra = w["wrapped"] - w["plain"]
        extra4 = w["wrapped4"] - w["plain4"]
        rows.append(
            f"| (2) `@Pipeline.epoch_wrapper`'ed method doing nothing, per epoch "
            f"| {w['wrapped']:.1f} µs | plain method: {w['plain']:.2f} µs "
            f"| +{extra:.1f} µs | ≤ 20 µs | {verdict(extra <= 20)} |"
        )
        rows.append(
            f"| … of which core's `Run.log_event` (two per epoch: `level_start`, `level_end`) "
            f"| {w['event']:.1f} µs per event | | {2 * w['event']:.1f} µs per epoch | | |"
        )
        rows.append(
            f"| … the same with 4 epoch metrics set (tracked as `epoch/*`) "
            f"| {w['wrapped4']:.1f} µs | plain method: {w['plain4']:.2f} µs "
            f"| +{extra4:.1f} µs | | |"
        )
    if isinstance(e, str):
        rows.append(f"| (3) 10,000-trial grid to `TrialRunSpec`s | {e} | | | ≤ 1 s | |")
    else:
        rows.append(
            f"| (3) {e['trials']:,.0f}-trial grid ({GRID_SIDE}×{GRID_SIDE}×{GRID_SIDE}×"
            f"{GRID_SIDE}): YAML files to `TrialRunSpec`s "
            f"| {e['total_s'] * 1e3:.0f} ms | one `OmegaConf.create` per trial (timed on "
            f"1 in {BASELINE_SHARE}): "
            f"{e['omegaconf_s'] * 1e3:.0f} ms | {e['total_s'] / e['omegaconf_s']:.2f}× "
            f"| ≤ 1 s | {verdict(e['total_s'] <= 1.0)} |"
        )
        rows.append(
            f"| … of which reading the files / `expand_trials` / `trial_runs` "
            f"| {e['load_s'] * 1e3:.1f} / {e['expand_s'] * 1e3:.0f} / {e['runs_s'] * 1e3:.0f} ms "
            f"| | | | |"
        )
        rows.append(
            f"| one trial run's `.config()` (DictConfig, interpolations resolved) "
            f"| {e['one_config_ms']:.2f} ms | | | | |"
        )

    notes = []
    if not isinstance(w, str):
        own = w["wrapped"] - w["plain"] - 2 * w["event"]
        notes.append(
            f"(2): the wrappers' own work is about {own:.1f} µs per epoch; the rest is the two "
            "run events each epoch records, each a `Run.log_event` in core (checking the "
            "fields, spelling the JSON line, one unbuffered `os.write`, so that an epoch "
            "that started is on disk before its code runs)."
        )
    quick = " --quick" if q else ""
    body = "\n".join(
        [
            "## Experiment layer (`bench/experiment.py`)",
            "",
            f"Reproduce: `.venv/bin/python bench/experiment.py{quick}` ({machine()}). "
            f"(1): medians of {rounds} alternating rounds of {n:,} calls on one run, the "
            "ratio the median of each round's ratio to the `Run.log` round before it; "
            f"(2): medians of {epoch_rounds} alternating rounds of {epochs:,} epochs inside "
            f"one `run_wrapper`'ed run, each epoch recording its `level_start`/`level_end` "
            f"events; (3): medians of {repeat} expansions.",
            "",
            *rows,
            "",
            *(f"{note}\n" for note in notes),
            load_average(load_before, load_after)
            + " Ratios are against the baseline taken in the same run; absolute times move "
            "with the machine's load.",
        ]
    )
    print(body)
    if not args.no_write:
        write_section("experiment", body)


if __name__ == "__main__":
    main()
