"""Backends side by side: what a mirror costs the logging loop, how fast each mirror and
import goes against the library's own best call written by hand, and how long a mirror
takes to catch up after ``close()``.

Run: ``.venv/bin/python bench/backends.py [--quick]`` (after ``just setup``: it needs the
libraries of ``scripts/extra-packages/backends.txt`` and Debian's PostgreSQL, and starts a
real ``mlflow server`` and a throwaway PostgreSQL on loopback, as the tests do).
Writes the ``backends`` section of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The tests' server starters (mlflow_server.py, postgres_server.py) start the same servers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/ferrotrack-backends/tests"))
from _report import load_average, machine, verdict, write_section

import ferrotrack.core as ft
from ferrotrack.core.plugins import BackendPlugin
from ferrotrack.core.settings import FerrotrackSettings

Factory = Callable[[Path], BackendPlugin]


def configured(cls_path: str, **config: Any) -> Factory:
    """A factory of an initialized backend; ``{tmp}`` in a str value is the bench folder."""

    def make(tmp: Path) -> BackendPlugin:
        module, name = cls_path.rsplit(".", 1)
        cls = getattr(__import__(module, fromlist=[name]), name)
        backend: BackendPlugin = cls()
        backend.initialize({k: _fill(v, tmp) for k, v in config.items()})
        return backend

    return make


def started(backend: BackendPlugin) -> BackendPlugin:
    """A backend ready for ``ft.sync_run`` (a run's session starts the ones it is given)."""
    backend.start()
    return backend


def _fill(value: Any, tmp: Path) -> Any:
    return value.format(tmp=tmp) if isinstance(value, str) else value


def settings(root: Path, drain: float) -> FerrotrackSettings:
    orchestrator = {"drain_timeout": drain}
    return FerrotrackSettings(root=root, flush_interval=0.1, orchestrator=orchestrator)


# ---- 1. what a mirror costs the loop ---------------------------------------------------

HELPERS = ("wandb", "clearml")
"""Words naming a client's helper processes in their command line (wandb-core need not be
a child of ours: wandb may start it through a service)."""
QUIET_SHARE = 0.05
"""Start-up is over once two consecutive 0.1 s windows use less than this share of a core."""
SETTLE_LIMIT = 10.0


def _task_ns(pid: int, skip: int | None = None) -> dict[tuple[int, int], int]:
    """CPU nanoseconds of each thread of ``pid`` but ``skip``: the kernel's ``schedstat``
    (exact), or psutil's user + system times (10 ms ticks) where there is none."""
    out: dict[tuple[int, int], int] = {}
    tasks = Path(f"/proc/{pid}/task")
    try:
        for task in tasks.iterdir():
            tid = int(task.name)
            if tid != skip:
                out[(pid, tid)] = int((task / "schedstat").read_text().split()[0])
        return out
    except FileNotFoundError:
        if tasks.exists():
            out.clear()  # no schedstat on this kernel: psutil's ticks below
        else:
            return {}  # the process is gone
    except (OSError, ValueError):
        return {}
    try:
        threads = psutil.Process(pid).threads()
    except psutil.Error:
        return {}
    return {(pid, t.id): int((t.user_time + t.system_time) * 1e9) for t in threads if t.id != skip}


def others_cpu() -> dict[tuple[int, int], int]:
    """CPU nanoseconds so far of this process's threads but the main one, of its child
    processes (the bench's servers, which may still be taking the previous run's drain) and
    of every process whose command line names a client's helper (``HELPERS``)."""
    me = psutil.Process()
    out = _task_ns(me.pid, skip=threading.main_thread().native_id)
    pids = {child.pid for child in me.children(recursive=True)}
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or ())
        if proc.pid != me.pid and any(word in cmdline for word in HELPERS):
            pids.add(proc.pid)
    for pid in pids:
        out.update(_task_ns(pid))
    return out


def used_ns(before: dict[tuple[int, int], int], after: dict[tuple[int, int], int]) -> int:
    """CPU used between two samples (a thread born in between counts whole)."""
    return sum(max(ns - before.get(key, 0), 0) for key, ns in after.items())


def settle(window: float = 0.1) -> float:
    """Seconds until the other threads, the servers and the clients' helper processes are
    quiet (two consecutive windows under ``QUIET_SHARE`` of a core), at most
    ``SETTLE_LIMIT``: a client's one-off start-up (wandb-core's metadata collection) or a
    server still taking the previous run's drain is not the per-call cost."""
    t0 = last = time.perf_counter()
    before, calm = others_cpu(), 0
    while last - t0 < SETTLE_LIMIT:
        time.sleep(window)  # the polling interval; the condition is what ends the wait
        after, now = others_cpu(), time.perf_counter()
        busy = used_ns(before, after) / 1e9 / (now - last)
        calm = calm + 1 if busy < QUIET_SHARE else 0
        before, last = after, now
        if calm == 2:
            break
    return last - t0


class Loop(NamedTuple):
    """One timed loop of ``Run.log`` calls."""

    ns: float
    """ns per call over the whole loop."""
    first_ns: float
    """ns per call over its first ``FIRST`` calls."""
    opening: float
    """Seconds the mirror took to open (``open_run``) before the loop."""
    settled: float
    """Seconds until the threads and helper processes were quiet, after the opening."""
    others: float
    """CPU the other threads and helper processes used during the loop, in cores."""
    held: int
    """Points the mirror held when the loop ended."""
    on_cpu: float
    """Share of the loop's wall time the main thread ran (the rest it waited for a core)."""
    faults: float
    """Page faults the main thread took per 1,000 calls (a fresh page, not a recycled one)."""


FIRST = 3_000_000


def loop_ns(root: Path, backend: BackendPlugin | None, n: int) -> Loop:
    """``n`` ``run.log`` calls, timed once the mirror has opened and the process and the
    client's helpers are quiet; the mirror works beside the loop. The drain at the end is
    not counted (section 4 times it)."""
    backends = [backend] if backend is not None else []
    config = settings(root, 2.0)
    first = min(FIRST, n)
    with ft.start_run(experiment="bench", settings=config, backends=backends) as run:
        # The mirror opens its remote run (open_run: a run created, a client started) on its
        # own thread while a script sets up; a one-off cost, timed apart, not per call.
        session = run._session
        orchestrator = session.orchestrator if session is not None else None
        opening = timed(lambda: orchestrator.wait_idle(120.0)) if orchestrator else 0.0
        settled = settle()
        log = run.log
        before = others_cpu()
        cpu0 = time.thread_time()
        faults0 = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        t0 = time.perf_counter()
        for s in range(first):
            log("loss", 0.5, s)
        t1 = time.perf_counter()
        for s in range(first, n):
            log("loss", 0.5, s)
        elapsed = time.perf_counter() - t0
        on_cpu = (time.thread_time() - cpu0) / elapsed
        faults = (resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults0) / n * 1e3
        others = used_ns(before, others_cpu()) / 1e9 / elapsed
        held = (
            sum(int(v["rows_delivered"]) for v in orchestrator.status().values())
            if orchestrator
            else 0
        )
    first_ns = (t1 - t0) / first * 1e9
    return Loop(elapsed / n * 1e9, first_ns, opening, settled, others, held, on_cpu, faults)


def overhead_table(tmp: Path, factories: dict[str, Factory], n: int, repeat: int) -> str:
    rows, base_settled, loop_s = [], [], []
    # The first loop of a process maps fresh pages (no columns to recycle yet): not counted.
    loop_ns(tmp / "store", None, n)
    for name, make in factories.items():
        base: list[Loop] = []
        ours: list[Loop] = []
        for k in range(repeat):  # interleaved, in turn first, so drift hits both alike
            if k % 2:
                ours.append(loop_ns(tmp / "store", make(tmp), n))
            base.append(loop_ns(tmp / "store", None, n))
            if not k % 2:
                ours.append(loop_ns(tmp / "store", make(tmp), n))
        base_settled += [b.settled for b in base]
        loop_s += [x.ns * n / 1e9 for x in base + ours]
        b, o = statistics.median(x.ns for x in base), statistics.median(x.ns for x in ours)
        fb = statistics.median(x.first_ns for x in base)
        fo = statistics.median(x.first_ns for x in ours)
        settled = [x.settled for x in ours]
        pairs = [y.ns / x.ns for x, y in zip(base, ours, strict=True)]
        rows.append(
            f"| {name} | {b:.0f} | {o:.0f} | {o / b:.2f}× ({min(pairs):.2f}–{max(pairs):.2f}) "
            f"| {verdict(o / b <= 1.10)} | "
            f"{fo / fb:.2f}× | {statistics.median(settled):.1f} ({min(settled):.1f}–"
            f"{max(settled):.1f}) | {statistics.median(x.others for x in base) * 100:.0f}% / "
            f"{statistics.median(x.others for x in ours) * 100:.0f}% | "
            f"{statistics.median(x.on_cpu for x in base) * 100:.0f}% / "
            f"{statistics.median(x.on_cpu for x in ours) * 100:.0f}% | "
            f"{statistics.median(x.faults for x in base):.1f} / "
            f"{statistics.median(x.faults for x in ours):.1f} | "
            f"{statistics.median(x.opening for x in ours):.2f} | "
            f"{statistics.median(x.held for x in ours):,.0f} |"
        )
        print(rows[-1], flush=True)
    return (
        f"`Run.log` per call over {n:,} calls ({min(loop_s):.1f}–{max(loop_s):.1f} s a loop), "
        f"median of {repeat} runs, each paired with a run without a backend, which of the two "
        "goes first alternating (after one uncounted warm-up loop; flush every 0.1 s, so the "
        "mirror works during the loop; the drain after the loop is not counted). "
        "The steady-state cost per call is what the target is about, so one-off start-up is "
        "kept out of the loop and shown apart: the loop starts once the mirror has opened "
        "(`open_run`; *opening*) and then once this process's other threads and any process "
        f"whose command line names {' or '.join(HELPERS)} (a client's helper, such as "
        "wandb-core, may still be collecting the machine's facts) and the bench's own child "
        "processes (the MLflow and PostgreSQL servers may still be taking the previous run's "
        "drain) used under "
        f"{QUIET_SHARE:.0%} of a core in two consecutive 0.1 s windows, at most "
        f"{SETTLE_LIMIT:.0f} s (*client start-up settled after*, median (range) of the runs "
        f"with the backend, {SETTLE_LIMIT:.0f} meaning never quiet; the runs "
        "without one waited "
        f"{min(base_settled):.1f}–{max(base_settled):.1f} s). "
        "The ratio is that of the medians, the pairs' own ratios in brackets. "
        "*first 3 M calls* is the ratio "
        "over the loop's first 3,000,000 calls alone (the whole loop in earlier runs of "
        "this bench); *others' CPU* is what those threads and processes used during the "
        "loop, in share of one core, without / with the backend (the store's flush thread "
        "encoding is in both; the difference is the mirror's and its client's steady work); "
        "*loop on CPU* is the share of the loop's wall time the "
        "main thread ran, without / with the backend (the rest it waited for a core that "
        "another thread or process held); *page faults* are the main thread's minor faults per "
        "1,000 calls, without / with (each a fresh page where a recycled column would have "
        "done). Delivery runs under the default live budget "
        "(`delivery_share` 0.05, [plugins.md](plugins.md#the-live-delivery-budget)): the "
        f"last column is how many of the {n:,} points the mirror held when the loop ended; "
        "it takes the rest when the run finishes.\n\n"
        "| backend | no backend (ns) | with it (ns) | ratio | ≤ 1.10× | first 3 M calls | "
        "client start-up settled after (s) | others' CPU in the loop | loop on CPU | "
        "page faults | opening (s) | mirrored by the loop's end |\n"
        + "|---" * 12
        + "|\n"
        + "\n".join(rows)
    )


# ---- 2. mirror throughput against the library by hand ------------------------------------


def make_run(root: Path, points: int, metrics: int = 10) -> Path:
    """A finished run of ``points`` points (``metrics`` names), written with log_array."""
    steps = np.arange(points // metrics, dtype=np.int64)
    values = np.random.default_rng(0).random(len(steps))
    with ft.start_run(experiment="bench", root=root) as run:
        for m in range(metrics):
            run.log_array(f"train/m{m}", values, steps)
    return run.run_dir


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def sync_rate(tmp: Path, make: Factory, points: int) -> float:
    """Points/s of ``ferrotrack sync`` of a ``points``-point run into a fresh mirror."""
    run_dir = make_run(tmp / "sync-store", points)
    backend = started(make(tmp))
    seconds = timed(lambda: ft.sync_run(run_dir, backend))
    backend.stop()
    return points / seconds


def columns(points: int, metrics: int = 10) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    per = points // metrics
    names = [f"train/m{m}" for m in range(metrics)]
    steps = np.arange(per, dtype=np.int64)
    values = np.random.default_rng(0).random(per)
    stamps = time.time_ns() + steps * 1_000_000
    return names, steps, values, stamps


def by_hand_mlflow(uri: str, points: int) -> float:
    """MLflow's own bulk call: ``log_batch`` of 1000 ``Metric`` entities per request."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    client = MlflowClient(uri)
    exp = client.create_experiment(f"by-hand-{time.time_ns()}")
    run = client.create_run(exp)
    names, steps, values, stamps = columns(points)

    def go() -> None:
        batch: list[Metric] = []
        for name in names:
            for s, v, t in zip(steps.tolist(), values.tolist(), stamps.tolist(), strict=True):
                batch.append(Metric(name, v, t // 1_000_000, s))
                if len(batch) == 1000:
                    client.log_batch(run.info.run_id, metrics=batch)
                    batch = []
        if batch:
            client.log_batch(run.info.run_id, metrics=batch)

    return points / timed(go)


def by_hand_tensorboardx(tmp: Path, points: int) -> float:
    """tensorboardX's ``add_scalar``, one call per point (its only scalar call)."""
    from tensorboardX import SummaryWriter

    names, steps, values, stamps = columns(points)
    writer = SummaryWriter(str(tmp / f"tbx-{time.time_ns()}"))

    def go() -> None:
        for name in names:
            for s, v, t in zip(steps.tolist(), values.tolist(), stamps.tolist(), strict=True):
                writer.add_scalar(name, v, s, walltime=t / 1e9)
        writer.flush()

    rate = points / timed(go)
    writer.close()
    return rate


def by_hand_sqlalchemy(url: str, points: int) -> float:
    """SQLAlchemy's bulk insert: one ``execute(insert(table), rows)`` per 10 k rows."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        f"by_hand_{time.time_ns()}",
        meta,
        sa.Column("name", sa.String(200)),
        sa.Column("step", sa.BigInteger),
        sa.Column("timestamp", sa.BigInteger),
        sa.Column("value", sa.Float),
    )
    meta.create_all(engine)
    names, steps, values, stamps = columns(points)

    def go() -> None:
        with engine.begin() as conn:
            rows: list[dict[str, Any]] = []
            for name in names:
                for s, v, t in zip(steps.tolist(), values.tolist(), stamps.tolist(), strict=True):
                    rows.append({"name": name, "step": s, "timestamp": t, "value": v})
                    if len(rows) == 10_000:
                        conn.execute(sa.insert(table), rows)
                        rows = []
            if rows:
                conn.execute(sa.insert(table), rows)

    rate = points / timed(go)
    engine.dispose()
    return rate


def by_hand_wandb(tmp: Path, points: int) -> float:
    """wandb's ``log``, one call per step with every metric of the step."""
    import wandb

    names, steps, values, _ = columns(points)
    run = wandb.init(mode="offline", dir=str(tmp), project="by-hand", reinit="create_new")

    def go() -> None:
        for s, v in zip(steps.tolist(), values.tolist(), strict=True):
            run.log(dict.fromkeys(names, v), step=s)

    rate = points / timed(go)
    run.finish()
    return rate


def by_hand_aim(tmp: Path, points: int) -> float:
    """Aim's ``track``, one call per point (it has no bulk call)."""
    import importlib

    aim: Any = importlib.import_module("aim")
    names, steps, values, _ = columns(points)
    run = aim.Run(repo=str(tmp / "aim-by-hand"), experiment="by-hand")

    def go() -> None:
        for name in names:
            for s, v in zip(steps.tolist(), values.tolist(), strict=True):
                run.track(v, name=name, step=s)

    rate = points / timed(go)
    run.close()
    return rate


def by_hand_clearml(tmp: Path, points: int) -> float:
    """ClearML's ``report_scalar``, one call per point (offline task)."""
    from clearml import Task

    names, steps, values, _ = columns(points)
    Task.set_offline(offline_mode=True)
    # Reporting on threads, as the backend does (sdk.development.report_use_subprocess):
    # ClearML's default forks a reporter from this process, whose threads (the store's, the
    # servers' clients) can leave the fork deadlocked; it hung one run of this bench.
    Task._report_subprocess_enabled = False  # type: ignore[assignment]
    task: Any = Task.init(
        project_name="by-hand",
        task_name="by-hand",
        auto_connect_frameworks=False,
        auto_resource_monitoring=False,
        auto_connect_streams=False,
        auto_connect_arg_parser=False,
    )
    logger = task.get_logger()

    def go() -> None:
        for name in names:
            title, _, series = name.partition("/")
            for s, v in zip(steps.tolist(), values.tolist(), strict=True):
                logger.report_scalar(title, series, v, s)
        logger.flush()

    rate = points / timed(go)
    task.close()
    return rate


# ---- 3. import ---------------------------------------------------------------------------


def tensorboard_import_rates(tmp: Path, points: int, accumulator_points: int) -> dict[str, float]:
    """Native read and whole import of event files our mirror wrote, against TensorBoard's
    ``EventAccumulator`` on a smaller file (it is ~200× slower)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from ferrotrack.backends.tensorboard.importer import read_runs
    from ferrotrack.core.importing import import_runs

    out: dict[str, float] = {}
    for label, n in (("big", points), ("small", accumulator_points)):
        run_dir = make_run(tmp / f"tb-src-{label}", n)
        backend = started(
            configured(
                "ferrotrack.backends.tensorboard.TensorboardBackend",
                logdir=str(tmp / f"tb-{label}"),
            )(tmp)
        )
        ft.sync_run(run_dir, backend)
        backend.stop()
        if label == "big":
            logdir = tmp / "tb-big"
            out["read"] = n / timed(lambda d=logdir: [r.points for r in read_runs(d)])  # type: ignore[misc]
            out["import"] = n / timed(
                lambda d=logdir: import_runs(read_runs(d), root=tmp / "imported")  # type: ignore[misc]
            )
        else:
            folder = next(p.parent for p in (tmp / "tb-small").rglob("events.out.tfevents.*"))

            def accumulate(folder: Path = folder) -> None:
                acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
                acc.Reload()
                for tag in acc.Tags()["scalars"]:
                    acc.Scalars(tag)

            out["accumulator"] = n / timed(accumulate)
    return out


def mlflow_import_rates(tmp: Path, uri: str, points: int) -> dict[str, float]:
    """``ferrotrack import mlflow`` of one run against ``get_metric_history`` per metric."""
    from mlflow import MlflowClient

    from ferrotrack.backends.mlflow.importer import read_runs
    from ferrotrack.core.importing import import_runs

    run_dir = make_run(tmp / "mlflow-src", points)
    experiment = f"import-{time.time_ns()}"
    backend = started(
        configured(
            "ferrotrack.backends.mlflow.MlflowBackend", tracking_uri=uri, experiment=experiment
        )(tmp)
    )
    ft.sync_run(run_dir, backend)
    backend.stop()
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    [run] = client.search_runs([exp.experiment_id])

    def by_hand() -> None:
        for key in run.data.metrics:
            client.get_metric_history(run.info.run_id, key)

    return {
        "by_hand": points / timed(by_hand),
        "ours": points
        / timed(lambda: import_runs(read_runs(uri, experiment=experiment), root=tmp / "imp")),
    }


# ---- 4. catching up after close() ----------------------------------------------------------


def catch_up_seconds(tmp: Path, make: Factory | None, points: int) -> tuple[float, float]:
    """(seconds logging ``points`` points with log_array, seconds ``close()`` then takes
    until the mirror holds them all)."""
    chunk = 1_000_000
    values = np.random.default_rng(0).random(chunk)
    backends = [make(tmp)] if make is not None else []
    run = ft.start_run(
        experiment="catch-up", settings=settings(tmp / "cu", 3600.0), backends=backends
    )
    t0 = time.perf_counter()
    for k in range(points // chunk):
        run.log_array("loss", values, np.arange(k * chunk, (k + 1) * chunk, dtype=np.int64))
    logged = time.perf_counter() - t0
    closing = timed(run.finish)
    return logged, closing


# ---- the servers ---------------------------------------------------------------------------


@contextlib.contextmanager
def servers(tmp: Path) -> Iterator[tuple[str, str]]:
    """A real ``mlflow server`` and PostgreSQL on loopback: (MLflow URI, PostgreSQL URL)."""
    import importlib

    mlflow_server: Any = importlib.import_module("mlflow_server")
    postgres_server: Any = importlib.import_module("postgres_server")
    mlflow = mlflow_server.MlflowServer(tmp / "mlflow")
    bindir = postgres_server.find_bindir()
    assert bindir is not None, "PostgreSQL is not installed: run scripts/system/postgres.sh"
    pg = postgres_server.PostgresServer(bindir, tmp / "pg")
    (tmp / "pg").mkdir()
    (tmp / "pg").chmod(0o755)
    mlflow.start()
    try:
        pg.init()
        pg.start()
        try:
            yield mlflow.uri, pg.url()
        finally:
            pg.remove()
    finally:
        mlflow.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    args = parser.parse_args()
    q = args.quick
    with tempfile.TemporaryDirectory(prefix="ferrotrack-bench-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)
        os.environ.update(  # the libraries write under HOME; keep them in the bench folder
            HOME=str(tmp),
            WANDB_SILENT="true",
            WANDB_MODE="offline",
            MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT="true",
        )
        with servers(tmp) as (mlflow_uri, pg_url):
            report(tmp, mlflow_uri, pg_url, quick=q)


def report(tmp: Path, mlflow_uri: str, pg_url: str, *, quick: bool) -> None:
    load_before = os.getloadavg()
    sqlite_url = f"sqlite:///{tmp}/bench.sqlite"
    factories: dict[str, Factory] = {
        "jsonl": configured("ferrotrack.backends.jsonl.JsonlBackend"),
        "tensorboard": configured("ferrotrack.backends.tensorboard.TensorboardBackend"),
        "sql (SQLite)": configured("ferrotrack.backends.sql.SqlBackend", url=sqlite_url),
        "sql (PostgreSQL)": configured("ferrotrack.backends.sql.SqlBackend", url=pg_url),
        "mlflow": configured("ferrotrack.backends.mlflow.MlflowBackend", tracking_uri=mlflow_uri),
        "wandb (offline)": configured(
            "ferrotrack.backends.wandb.WandbBackend", mode="offline", dir="{tmp}"
        ),
        "clearml (offline)": configured("ferrotrack.backends.clearml.ClearmlBackend"),
        "aim": configured("ferrotrack.backends.aim.AimBackend", repo="{tmp}/aim"),
    }
    n = 3_000_000 if quick else 15_000_000
    repeat = 1 if quick else 3
    print("1. Run.log with each backend", flush=True)
    overhead = overhead_table(tmp, factories, n, repeat)

    print("2. mirror throughput", flush=True)
    s = 0.2 if quick else 1.0
    mirror_rows = []
    pairs: list[tuple[str, Factory, int, Callable[[int], float], str, float | None]] = [
        ("jsonl", factories["jsonl"], int(2e6 * s), lambda k: 0.0, "-", None),
        (
            "tensorboard",
            factories["tensorboard"],
            int(5e6 * s),
            lambda k: by_hand_tensorboardx(tmp, k),
            "tensorboardX `add_scalar`",
            500.0,
        ),
        (
            "sql (PostgreSQL)",
            factories["sql (PostgreSQL)"],
            int(2e6 * s),
            lambda k: by_hand_sqlalchemy(pg_url, k),
            "SQLAlchemy bulk insert",
            None,
        ),
        (
            "sql (SQLite)",
            factories["sql (SQLite)"],
            int(1e6 * s),
            lambda k: by_hand_sqlalchemy(sqlite_url, k),
            "SQLAlchemy bulk insert",
            None,
        ),
        (
            "mlflow",
            factories["mlflow"],
            int(5e4 * s),
            lambda k: by_hand_mlflow(mlflow_uri, k),
            "MlflowClient `log_batch`",
            0.8,
        ),
        (
            "wandb (offline)",
            factories["wandb (offline)"],
            int(5e4 * s),
            lambda k: by_hand_wandb(tmp, k),
            "`wandb.log` per step",
            None,
        ),
        (
            "clearml (offline)",
            factories["clearml (offline)"],
            int(2e4 * s),
            lambda k: by_hand_clearml(tmp, k),
            "`report_scalar` per point",
            None,
        ),
        (
            "aim",
            factories["aim"],
            int(1e4 * s),
            lambda k: by_hand_aim(tmp, k),
            "`track` per point",
            None,
        ),
    ]
    for name, make, points, hand, hand_label, target in pairs:
        ours = sync_rate(tmp, make, points)
        by_hand_points = min(points, 50_000 if name == "tensorboard" else 200_000)
        theirs = hand(by_hand_points) if hand_label != "-" else 0.0
        ratio = f"{ours / theirs:.2f}×" if theirs else "-"
        met = verdict(ours / theirs >= target) if (theirs and target) else "-"
        mirror_rows.append(
            f"| {name} | {points:,} | {ours / 1e6:.3f} | {hand_label} | "
            f"{theirs / 1e6:.3f} | {ratio} | {met} |"
        )
        print(mirror_rows[-1], flush=True)
    pg_rate = float(mirror_rows[2].split("|")[3]) * 1e6
    mirror = (
        "`ferrotrack sync` of a finished run into a fresh mirror (10 metrics), against the "
        "library's own best call written by hand on the same points (M points/s):\n\n"
        "| backend | points | ferrotrack | by hand | by hand | ratio | target |\n"
        "|---|---|---|---|---|---|---|\n"
        + "\n".join(mirror_rows)
        + f"\n\nInto PostgreSQL: {pg_rate / 1e3:,.0f} k points/s "
        f"(target ≥ 500 k: {verdict(pg_rate >= 5e5)}). TensorBoard target: ≥ 5 M points/s "
        f"({verdict(float(mirror_rows[1].split('|')[3]) >= 5.0)}) and ≥ 500× tensorboardX."
    )

    print("3. import", flush=True)
    tb = tensorboard_import_rates(tmp, int(5e6 * s), int(2e5 * s))
    ml = mlflow_import_rates(tmp, mlflow_uri, int(5e4 * s))
    tb_met = tb["read"] >= 5e6 and tb["read"] / tb["accumulator"] >= 150
    imports = (
        "| import | ferrotrack (points/s) | baseline | baseline (points/s) | ratio | target |\n"
        "|---|---|---|---|---|---|\n"
        f"| TensorBoard event files, native read | {tb['read']:,.0f} | `EventAccumulator` | "
        f"{tb['accumulator']:,.0f} | {tb['read'] / tb['accumulator']:.0f}× | "
        f"≥ 5 M/s and ≥ 150×: {verdict(tb_met)} |\n"
        f"| TensorBoard, whole `ferrotrack import` | {tb['import']:,.0f} | `EventAccumulator` | "
        f"{tb['accumulator']:,.0f} | {tb['import'] / tb['accumulator']:.0f}× | - |\n"
        f"| MLflow, whole `ferrotrack import` | {ml['ours']:,.0f} | `get_metric_history` per "
        f"metric | {ml['by_hand']:,.0f} | {ml['ours'] / ml['by_hand']:.2f}× | - |"
    )
    print(imports, flush=True)

    print("4. catch-up after close()", flush=True)
    big = int(1e7 * (0.2 if quick else 1.0))
    catch_rows = []
    attached: list[tuple[str, Factory | None]] = [
        ("no backend", None),
        ("jsonl", factories["jsonl"]),
        ("tensorboard", factories["tensorboard"]),
        ("sql (PostgreSQL)", factories["sql (PostgreSQL)"]),
    ]
    for name, attach in attached:
        logged, closing = catch_up_seconds(tmp / name.split()[0], attach, big)
        catch_rows.append(f"| {name} | {logged:.2f} | {closing:.2f} |")
        print(catch_rows[-1], flush=True)
    catch = (
        f"A run of {big:,} points logged with `log_array` (1 M per call), the mirror attached: "
        "seconds of logging, then seconds `finish()` takes (the store is final first; then "
        "the mirror drains whatever it has not taken yet):\n\n"
        "| backend | logging (s) | `finish()` (s) |\n|---|---|---|\n" + "\n".join(catch_rows)
    )

    body = (
        "## Backends (`bench/backends.py`)\n\n"
        f"`.venv/bin/python bench/backends.py{' --quick' if quick else ''}` ({machine()}; a real "
        "`mlflow server` with a SQLite store and PostgreSQL 15, both on loopback).\n\n"
        "### What a mirror costs the loop\n\n" + overhead + "\n\n"
        "### Mirror throughput\n\n" + mirror + "\n\n"
        "### Import\n\n" + imports + "\n\n"
        "### Catching up after `close()`\n\n"
        + catch
        + "\n\n"
        + load_average(load_before, os.getloadavg())
        + " The servers (MLflow, PostgreSQL, wandb-core) share the 2 cores with the loop, "
        "so the ratios of section 1 move by tens of percent between runs; compare them within "
        "one run.\n"
    )
    write_section("backends", body)


if __name__ == "__main__":
    main()
