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
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The tests' server starters (mlflow_server.py, postgres_server.py) start the same servers.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages/ferrotrack-backends/tests"))
from _report import machine, verdict, write_section

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


def loop_ns(root: Path, backend: BackendPlugin | None, n: int) -> tuple[float, float, int]:
    """(ns per ``run.log`` call over ``n`` calls, the mirror working beside the loop;
    seconds the mirror took to open before the loop; points it held when the loop ended).
    The drain at the end is not counted (section 4 times it)."""
    backends = [backend] if backend is not None else []
    config = settings(root, 2.0)
    with ft.start_run(experiment="bench", settings=config, backends=backends) as run:
        # The mirror opens its remote run (open_run: a run created, a client started) on its
        # own thread while a script sets up; a one-off cost, timed apart, not per call.
        session = run._session
        orchestrator = session.orchestrator if session is not None else None
        opening = timed(lambda: orchestrator.wait_idle(120.0)) if orchestrator else 0.0
        log = run.log
        t0 = time.perf_counter()
        for s in range(n):
            log("loss", 0.5, s)
        elapsed = time.perf_counter() - t0
        held = (
            sum(int(v["rows_delivered"]) for v in orchestrator.status().values())
            if orchestrator
            else 0
        )
    return elapsed / n * 1e9, opening, held


def overhead_table(tmp: Path, factories: dict[str, Factory], n: int, repeat: int) -> str:
    rows = []
    for name, make in factories.items():
        base, ours, opening, held = [], [], [], []
        for _ in range(repeat):  # interleaved, so drift hits both alike
            base.append(loop_ns(tmp / "store", None, n)[0])
            ns, opened, points = loop_ns(tmp / "store", make(tmp), n)
            ours.append(ns)
            opening.append(opened)
            held.append(points)
        b, o = statistics.median(base), statistics.median(ours)
        rows.append(
            f"| {name} | {b:.0f} | {o:.0f} | {o / b:.2f}× | {verdict(o / b <= 1.10)} | "
            f"{statistics.median(opening):.2f} | {statistics.median(held):,.0f} |"
        )
        print(rows[-1], flush=True)
    return (
        f"`Run.log` per call over {n:,} calls, median of {repeat} runs, each interleaved with a "
        "run without a backend (flush every 0.1 s, so the mirror works during the loop; the "
        "drain after the loop is not counted). The loop starts once the mirror has opened "
        "(`open_run`, a one-off cost a script's setup hides; its seconds are shown apart). "
        "Delivery runs under the default live budget (`delivery_share` 0.05, "
        "[plugins.md](plugins.md#the-live-delivery-budget)): the last column is how many of "
        f"the {n:,} points the mirror held when the loop ended; it takes the rest when the "
        "run finishes.\n\n"
        "| backend | no backend (ns) | with it (ns) | ratio | ≤ 1.10× | opening (s) | "
        "mirrored by the loop's end |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows)
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
    n = 1_000_000 if quick else 3_000_000
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
        "### Catching up after `close()`\n\n" + catch + "\n\n"
        "Load average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + ". The servers (MLflow, PostgreSQL, wandb-core) share the 2 cores with the loop, "
        "so the ratios of section 1 move by tens of percent between runs; compare them within "
        "one run.\n"
    )
    write_section("backends", body)


if __name__ == "__main__":
    main()
