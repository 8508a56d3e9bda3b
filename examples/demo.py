"""The ferrotrack demo: a simulated hyper-parameter sweep, then the analysis.

Run it with ``./just demo``. It logs several runs of a fake training loop (over a million
points in a few seconds, with a checkpoint event every 25,000 steps), prints what was
stored and the ``ferrotrack runs list`` table, logs one more run mirrored to JSON lines,
TensorBoard event files and SQLite (ferrotrack-backends), imports the event files back
with ``ferrotrack import tensorboard``, runs a config-driven experiment (ferrotrack-experiment:
``examples/demo_experiment/``, a sweep of trials and repeats with early stopping and one trial
that diverges), runs a model from YAML and sweeps it on a Dask cluster, with the summary
and plots postprocessors (ferrotrack-run, ferrotrack-postprocess: ``examples/demo_model/``),
trains a tiny PyTorch model whose ``SummaryWriter`` calls land in a run beside the machine's
facts (ferrotrack-frameworks, ferrotrack-collectors), shows the events and the best run, and
writes the HTML report of the sweep (ferrotrack-ui).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import ferrotrack.core as ft
from ferrotrack.core.delivery.health import backend_health

ROOT = Path("ferrotrack-runs")
EXPERIMENT = "demo-sweep"
STEPS = 100_000


def train(lr: float, batch_size: int, seed: int) -> ft.Run:
    """A fake training loop: a noisy loss that decays at a rate set by the learning rate."""
    rng = random.Random(seed)
    params = {"optim": {"lr": lr, "name": "sgd"}, "batch_size": batch_size, "seed": seed}
    with ft.start_run(
        f"lr={lr:g},bs={batch_size}", experiment=EXPERIMENT, root=ROOT, params=params
    ) as run:
        log = run.log
        floor = 0.05 + 0.2 * abs(math.log10(lr) + 2.5)
        loss = 2.5
        decay = 1 - lr * 0.5
        for step in range(STEPS):
            loss = floor + (loss - floor) * decay
            log("train/loss", loss + rng.gauss(0, 0.02), step)
            if step % 1000 == 999:
                acc = 0.98 - loss / 3 + rng.gauss(0, 0.005)
                log({"val/loss": loss * 1.1 + rng.gauss(0, 0.01), "val/acc": acc}, step=step)
            if step % 25_000 == 24_999:  # an event, ordered after the points logged before it
                run.log_event("checkpoint", name=f"epoch-{step // 25_000}", step=step)
        # Per-sample gradient norms of the last epoch, logged in one call without a loop.
        run.log_array("grad_norm", np.abs(np.random.default_rng(seed).normal(1.0, 0.2, 200_000)))
    return run


def mirrored_run() -> None:
    """One more run mirrored three ways (ferrotrack-backends): JSON lines, TensorBoard event
    files and a SQLite database. Each mirror works on a thread of its own, fed the store's
    flushed batches, never in the loop; then the event files are imported back."""
    mirrors = ["jsonl", "tensorboard", "sql"]
    with ft.start_run("mirrored", experiment=EXPERIMENT, root=ROOT, backends=mirrors) as run:
        run.log_params({"optim": {"lr": 3e-3}})
        for step in range(10_000):
            run.log("train/loss", 1.0 / (step + 1), step)
        run.log_event("checkpoint", name="final", step=step)
    mirror = run.run_dir / "mirror.jsonl"
    order: list[str] = []  # the records in file order, runs of points counted
    for line in mirror.read_text("utf-8").splitlines():
        record = json.loads(line)
        kind = record["status"] if record["type"] == "status" else record["type"]
        if kind == "point" and order and order[-1].endswith(" points"):
            order[-1] = f"{int(order[-1].split()[0]) + 1} points"
        else:
            order.append("1 points" if kind == "point" else kind)
    print(f"\nrun {run.name!r} mirrored by jsonl ({mirror.name}): {' -> '.join(order)}")

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logdir = run.run_dir / "tensorboard"
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    events.Reload()
    scalars = events.Scalars("train/loss")
    print(f"  tensorboard: {len(scalars):,} scalars read by TensorBoard's own EventAccumulator")
    db = sqlite3.connect(ROOT / "ferrotrack.sqlite")
    (count,) = db.execute("SELECT COUNT(*) FROM metrics WHERE run_id = ?", [run.run_id]).fetchone()
    print(f"  sql: {count:,} rows in {ROOT / 'ferrotrack.sqlite'}, table metrics")
    db.close()
    for name, health in backend_health(run.run_dir).items():
        print(
            f"  {name}: {health['state']}, {health['rows']:,}/{health['total']:,} points delivered"
        )
    print(f"\n$ ferrotrack import tensorboard {logdir} --experiment demo-imported")
    cli = [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(ROOT)]
    subprocess.run(
        [*cli, "import", "tensorboard", str(logdir), "--experiment", "demo-imported"], check=True
    )


def experiment() -> None:
    """``examples/demo_experiment``: trials x repeats, each a run; a diverging one fails alone."""
    config = Path(__file__).parent / "demo_experiment"
    cli = [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(ROOT), "experiment"]
    wide = {**os.environ, "COLUMNS": "150"}
    pipeline_file = str(config / "pipelines.py")
    print(f"\n$ ferrotrack experiment show {config}")
    subprocess.run([*cli, "show", str(config)], check=True, env=wide)
    print(f"\n$ ferrotrack experiment run {config} --import {pipeline_file}")
    run = [*cli, "run", str(config), "--import", pipeline_file, "--no-progress"]
    done = subprocess.run(run, check=False, env=wide)
    print(f"(exit status {done.returncode}: a trial run failed, the others ran)")
    sys.path.insert(0, str(config))
    importlib.import_module("pipelines")  # registers DemoSweepPipeline, which the config names

    from ferrotrack.experiment import Experiment

    table = Experiment.create(config, root=ROOT).results()
    table = table.sort("test/acc", descending=True, nulls_last=True)
    print("\nexperiment.results(), best first:")
    print(table.select("trial", "repeat", "status", "params.optimizer.lr", "test/acc").head(4))


def model_runs() -> None:
    """``examples/demo_model``: a model run from YAML on the local backend, a sweep of it on
    a Dask cluster, then the summary and plots postprocessors (ferrotrack-run and
    ferrotrack-postprocess)."""
    folder = Path(__file__).parent / "demo_model"
    cli = [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(ROOT)]
    # The model's command is `python3 simulate.py`: this interpreter comes first on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    model_file, backends = folder / "model.yaml", folder / "backends.yaml"
    print(f"\n$ ferrotrack run {model_file} --backend-config {backends}")
    subprocess.run([*cli, "run", str(model_file), "--backend-config", str(backends)],
                   check=True, env=env)  # fmt: skip
    grid = ["--grid", "dt=0.05,0.1", "--grid", "damping=0.0,0.05,0.2"]
    print(f"\n$ ferrotrack sweep {model_file} {' '.join(grid)} --backend dask "
          f"--backend-config {backends} --max-concurrency 2")  # fmt: skip
    subprocess.run(
        [*cli, "sweep", str(model_file), *grid, "--backend", "dask",
         "--backend-config", str(backends), "--max-concurrency", "2"],
        check=True, env={**env, "COLUMNS": "150"},
    )  # fmt: skip

    from ferrotrack.run import ModelRun

    model = ModelRun.from_yaml(model_file)
    model.root = ROOT
    summary = model.postprocess(processor="summary", experiment="demo-model", root=str(ROOT))
    print(f"\nsummary postprocessor: {summary['message']}")
    plots = model.postprocess(processor="plots", experiment="demo-model", root=str(ROOT))
    print(f"plots postprocessor: {plots['message']}")


def captured_training() -> None:
    """A tiny PyTorch model trained with only TensorBoard's ``SummaryWriter`` in its loop:
    the pytorch framework plugin puts every ``add_scalar`` into the run as well, and the
    collectors record the machine, the git commit and the environment beside it
    (ferrotrack-frameworks, ferrotrack-collectors)."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    inputs = torch.randn(256, 8)
    targets = inputs.sum(dim=1, keepdim=True)
    collectors = ["system", "git", "environment", "container"]
    with ft.start_run("tiny-mlp", experiment="demo-captured", root=ROOT, collectors=collectors,
                      frameworks=["pytorch"]) as run:  # fmt: skip
        writer = SummaryWriter(str(ROOT / "tensorboard-demo"))
        for step in range(300):
            loss = torch.nn.functional.mse_loss(model(inputs), targets)
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            writer.add_scalar("train/loss", loss, step)  # TensorBoard's file, and the run
        writer.add_hparams({"lr": 0.05, "hidden": 16}, {"hparam/final_loss": loss.item()})
        writer.close()
    (row,) = ft.runs(root=ROOT, experiment="demo-captured").iter_rows(named=True)
    facts = sorted(k.removeprefix("params.") for k in row if k.startswith("params.") and row[k])
    system = sorted(k for k in run.summary() if k.startswith("sys/"))
    print(f"\ncaptured from SummaryWriter: train/loss last {row['train/loss.last']:.4f} "
          f"({run.summary()['train/loss']['count']} points)")  # fmt: skip
    print(f"collected: {len(facts)} params (e.g. {', '.join(facts[:4])}), "
          f"{len(system)} system metrics (e.g. {', '.join(system[:3])})")  # fmt: skip


def report() -> None:
    """Every run of the demo in one HTML file that opens from disk (ferrotrack-ui); ``ferrotrack
    ui --root ferrotrack-runs`` shows the same views live in a browser."""
    out = ROOT / "report.html"
    cli = [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(ROOT)]
    print(f"\n$ ferrotrack report --experiment {EXPERIMENT} -o {out}")
    subprocess.run([*cli, "report", "--experiment", EXPERIMENT, "-o", str(out)], check=True)
    print(f"open it from disk (no server, no network); live: ferrotrack ui --root {ROOT}")


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    shutil.rmtree(ROOT / f"experiment={EXPERIMENT}", ignore_errors=True)
    shutil.rmtree(ROOT / "experiment=demo-imported", ignore_errors=True)
    shutil.rmtree(ROOT / "experiment=demo-experiment", ignore_errors=True)
    shutil.rmtree(ROOT / "experiment=demo-model", ignore_errors=True)
    shutil.rmtree(ROOT / "experiment=demo-captured", ignore_errors=True)
    shutil.rmtree(ROOT / "tensorboard-demo", ignore_errors=True)
    (ROOT / "ferrotrack.sqlite").unlink(missing_ok=True)
    grid = [(lr, bs) for lr in (1e-3, 3e-3, 1e-2) for bs in (32, 128)]
    t0 = time.perf_counter()
    runs = [train(lr, bs, seed) for seed, (lr, bs) in enumerate(grid)]
    elapsed = time.perf_counter() - t0

    points = sum(s["count"] for r in runs for s in r.summary().values())
    size = folder_bytes(ROOT / f"experiment={EXPERIMENT}")
    print(
        f"logged {points:,} points in {len(runs)} runs in {elapsed:.2f} s "
        f"({points / elapsed / 1e6:.1f} M points/s, training loop included)"
    )
    print(f"stored {size / 1e6:.2f} MB under {ROOT}/ ({size / points:.2f} bytes/point)\n")

    print(f"$ ferrotrack runs list --experiment {EXPERIMENT}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ferrotrack.core.cli",
            "--root",
            str(ROOT),
            "runs",
            "list",
            "--experiment",
            EXPERIMENT,
        ],
        check=True,
        env={**os.environ, "COLUMNS": "150"},
    )
    mirrored_run()
    experiment()
    model_runs()
    captured_training()
    events = ft.events(experiment=EXPERIMENT, root=ROOT, kind="checkpoint")
    print(f"\n{events.height} checkpoint events, e.g. {events.row(0, named=True)['name']}")
    best = ft.best_run("val/acc", mode="max", root=ROOT, experiment=EXPERIMENT)
    row = best.row(0, named=True)
    print(f"\nbest run by val/acc: {row['name']} ({row['run_id']})")
    print(
        f"  val/acc max {row['val/acc.max']:.4f}, last {row['val/acc.last']:.4f}; "
        f"params lr={row['params.optim.lr']:g}, batch_size={row['params.batch_size']}"
    )
    report()


if __name__ == "__main__":
    main()
