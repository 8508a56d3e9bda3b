"""The ray and dask run backends against the same commands submitted by hand, and how fast a
running sweep is cancelled (called by ``bench/run.py``; runnable alone).

A sweep is ``points`` model runs of ``sleep 0.05`` (through ``/bin/sh -c``, as a model
run's string command). Ours: the backend's ``run_many`` with ``max_concurrency`` equal to
the cluster's slots, each point a ferrotrack run (opened, inputs generated, output captured,
status recorded). By hand: the same ``/bin/sh -c "sleep 0.05"`` submitted all at once to
the same warm cluster (``client.submit(subprocess.run, ...)`` / a ``ray.remote`` of
``subprocess.run``), gathered. One process, one cluster, a warm-up round of each, then
alternating order; the medians are returned. ``run_many`` never has more than
``max_concurrency`` tasks in flight, so each freed slot waits one driver round trip: the
``by_hand_window`` variant submits by hand the same way, which shows that cost apart from
ours.

Run alone: ``.venv/bin/python bench/run_engines.py [--points N] [--rounds R]``. Dask's
``LocalCluster`` starts its workers by spawning: call these under
``if __name__ == "__main__":``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

COMMAND = "sleep 0.05"
"""Each point's command (a model run's string command: ``/bin/sh -c``)."""
SLOTS = 2
"""Model runs the cluster runs at once (2 Dask workers of 1 thread; Ray with 2 CPUs)."""
DASK_OPTIONS: dict[str, Any] = {"n_workers": SLOTS, "threads_per_worker": 1}
RAY_OPTIONS: dict[str, Any] = {"init_kwargs": {"num_cpus": SLOTS}}


@contextlib.contextmanager
def _store() -> Iterator[Path]:
    """A folder for the model runs; the store is ``FERROTRACK_ROOT`` (a temporary one if unset)."""
    with tempfile.TemporaryDirectory(prefix="ferrotrack-bench-engines-") as name:
        folder = Path(name)
        before = os.environ.get("FERROTRACK_ROOT")
        if before is None:
            os.environ["FERROTRACK_ROOT"] = str(folder / "store")
        try:
            yield folder
        finally:
            if before is None:
                os.environ.pop("FERROTRACK_ROOT", None)


def _models(folder: Path, points: int, command: str) -> list[Any]:
    from ferrotrack.run.model import ModelRun

    batch = uuid.uuid4().hex[:8]
    return [
        ModelRun(run_id=f"p{batch}-{i}", output_dir=folder / "models", command=command)
        for i in range(points)
    ]


def _compare(variants: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Median seconds of each variant over ``rounds`` rounds after a warm-up, the order
    reversed every other round; ``ratio`` is ours over by hand."""
    for variant in variants.values():
        variant()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for index in range(rounds):
        order = list(variants.items())
        for name, variant in order if index % 2 == 0 else reversed(order):
            started = time.perf_counter()
            variant()
            times[name].append(time.perf_counter() - started)
    result = {name: statistics.median(values) for name, values in times.items()}
    result["ratio"] = result["ours"] / result["by_hand"]
    return result


def bench_dask_sweep(points: int = 100, rounds: int = 3) -> dict[str, float]:
    """Seconds for ``points`` model runs on a Dask ``LocalCluster``: ``ours`` (the dask
    backend's ``run_many``), ``by_hand`` (``client.submit(subprocess.run, ...)``, all at
    once) and ``by_hand_window`` (by hand, at most ``SLOTS`` submitted at a time, as ours)."""
    import distributed

    from ferrotrack.run.backends import dask as dask_backend

    backend = dask_backend.DaskBackend()
    dask_backend.start(**DASK_OPTIONS)
    config = backend.make_config(None, DASK_OPTIONS)
    client = backend.engine(config).session.client  # type: ignore[attr-defined]
    argv = ["/bin/sh", "-c", COMMAND]
    with _store() as folder:

        def ours() -> None:
            results = backend.run_many(
                _models(folder, points, COMMAND), max_concurrency=SLOTS, **DASK_OPTIONS
            )
            if not all(results):
                raise RuntimeError("a model run of the dask sweep failed")

        def by_hand() -> None:
            futures = [client.submit(subprocess.run, argv, pure=False) for _ in range(points)]
            done = client.gather(futures)
            if any(p.returncode != 0 for p in done):
                raise RuntimeError("a task of the by-hand dask sweep failed")

        def by_hand_window() -> None:
            first = [client.submit(subprocess.run, argv, pure=False) for _ in range(SLOTS)]
            finished = distributed.as_completed(first, loop=client.loop)  # type: ignore[no-untyped-call]
            submitted = len(first)
            for future in finished:
                if future.result().returncode != 0:
                    raise RuntimeError("a task of the by-hand dask sweep failed")
                if submitted < points:
                    finished.add(client.submit(subprocess.run, argv, pure=False))  # type: ignore[no-untyped-call]
                    submitted += 1

        try:
            return _compare(
                {"ours": ours, "by_hand": by_hand, "by_hand_window": by_hand_window}, rounds
            )
        finally:
            dask_backend.shutdown()


def bench_ray_sweep(points: int = 100, rounds: int = 3) -> dict[str, float]:
    """Seconds for ``points`` model runs on a local Ray: ``ours`` (the ray backend's
    ``run_many``), ``by_hand`` (a ``ray.remote`` of ``subprocess.run``, all at once) and
    ``by_hand_window`` (by hand, at most ``SLOTS`` in flight, as ours)."""
    import ray

    from ferrotrack.run.backends import ray as ray_backend

    backend = ray_backend.RayBackend()
    ray_backend.start(**RAY_OPTIONS)
    task = ray.remote(subprocess.run).options(num_cpus=1, max_retries=0)
    argv = ["/bin/sh", "-c", COMMAND]
    with _store() as folder:

        def ours() -> None:
            results = backend.run_many(
                _models(folder, points, COMMAND), max_concurrency=SLOTS, **RAY_OPTIONS
            )
            if not all(results):
                raise RuntimeError("a model run of the ray sweep failed")

        def by_hand() -> None:
            done = ray.get([task.remote(argv) for _ in range(points)])
            if any(p.returncode != 0 for p in done):
                raise RuntimeError("a task of the by-hand ray sweep failed")

        def by_hand_window() -> None:
            pending = [task.remote(argv) for _ in range(SLOTS)]
            submitted = len(pending)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                if ray.get(done[0]).returncode != 0:
                    raise RuntimeError("a task of the by-hand ray sweep failed")
                if submitted < points:
                    pending.append(task.remote(argv))
                    submitted += 1

        try:
            return _compare(
                {"ours": ours, "by_hand": by_hand, "by_hand_window": by_hand_window}, rounds
            )
        finally:
            ray_backend.shutdown()


def bench_cancel(engine: str) -> float:
    """Seconds from ``cancel_all()`` on a running sweep (8 points of a 60 s command, 2
    running) until its commands are gone and ``cancel_all`` returned (the tasks ended,
    the cluster started for it shut down)."""
    import psutil

    from ferrotrack.core.plugins.execution import get_execution_plugin

    options = DASK_OPTIONS if engine == "dask" else RAY_OPTIONS
    backend = get_execution_plugin("run", engine)
    marker = f"ft-bench-cancel-{uuid.uuid4().hex}"
    with _store() as folder:
        started = folder / "started"
        started.mkdir()
        sleeper = f"exec {sys.executable} -c 'import time; time.sleep(60)' {marker}"
        command = f"touch {started}/$$; {sleeper}"
        models = _models(folder, 8, command)
        results: list[list[bool]] = []
        sweep = threading.Thread(
            target=lambda: results.append(backend.run_many(models, max_concurrency=2, **options))
        )
        sweep.start()
        deadline = time.monotonic() + 120
        while len(list(started.iterdir())) < 2 or len(_marked(psutil, marker)) < 2:
            if time.monotonic() > deadline or not sweep.is_alive():
                raise RuntimeError(f"the {engine} sweep did not start its commands")
            time.sleep(0.02)
        began = time.perf_counter()
        backend.cancel_all()
        while _marked(psutil, marker):
            if time.perf_counter() - began > 60:
                raise RuntimeError(f"the {engine} sweep's commands still run after 60 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - began
        sweep.join(60)
        if sweep.is_alive():
            raise RuntimeError(f"the {engine} sweep did not end within 60 s of cancel_all()")
        if results != [[False] * len(models)]:
            raise RuntimeError(f"the {engine} sweep returned {results}, not 8 x False")
        killed = [m for m in models if m.tracked_run is not None]
        statuses = {m.tracked_run.status for m in killed}
        if len(killed) < 2 or statuses != {"killed"}:
            raise RuntimeError(f"the {engine} sweep's runs were left {statuses}, not killed")
        return elapsed


def _marked(psutil: Any, marker: str) -> list[Any]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if marker in " ".join(proc.info["cmdline"] or ()) and proc.status() != "zombie":
                found.append(proc)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for name, bench in (("dask", bench_dask_sweep), ("ray", bench_ray_sweep)):
        result = bench(args.points, args.rounds)
        print(
            f"{name}: {args.points} points: ours {result['ours']:.2f} s, by hand "
            f"{result['by_hand']:.2f} s ({result['ratio']:.2f}x), by hand {SLOTS} at a time "
            f"{result['by_hand_window']:.2f} s"
        )
    for name in ("dask", "ray"):
        print(f"cancel ({name}): {bench_cancel(name):.2f} s")


if __name__ == "__main__":
    main()
