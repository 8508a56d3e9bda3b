"""What framework capture costs in a training loop, each figure against a baseline measured
in the same run, in alternating rounds (the first of each discarded as warm-up), medians:

1. a training step of a small CPU MLP that calls ``SummaryWriter.add_scalar`` every step,
   inside ``ft.start_run(frameworks=["pytorch"])`` (so each call also lands in the run),
   against the same steps with only the ``SummaryWriter`` (target ≤ 1.05×);
2. a Lightning ``Trainer.fit`` of a small CPU model logging every step, with
   ``FerrotrackLogger`` against the same fit with Lightning's ``CSVLogger`` (≤ 1.05×);
3. the same fit with no logger, with and without ``start_run(frameworks=["lightning"])``
   (the ``self.log`` capture), both inside an open run (no target: for the record);
4. for scale, the same fit with MLflow's ``MLFlowLogger`` (SQLite tracking URI in a
   temporary folder) and W&B's ``WandbLogger`` (offline), when installed.

Run: ``.venv/bin/python bench/frameworks.py [--quick]``. Writes the ``frameworks`` section of
``docs/benchmarks.md`` (``--no-write``: print only). Everything goes to a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import logging
import os
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import load_average, machine, verdict, write_section

TARGET = 1.05
BATCH = 32


def paired(
    rounds: int, ours: Callable[[int], float], base: Callable[[int], float]
) -> dict[str, float]:
    """``rounds`` rounds (plus a warm-up) of one ``ours`` and one ``base`` measurement, the
    order swapped every round; the ratio is the median of the rounds' own ratios, so a
    change of load between rounds (this machine is shared) cancels out."""
    mine: list[float] = []
    theirs: list[float] = []
    for i in range(rounds + 1):
        if i % 2:
            theirs.append(base(i))
            mine.append(ours(i))
        else:
            mine.append(ours(i))
            theirs.append(base(i))
    ratios = [a / b for a, b in zip(mine[1:], theirs[1:], strict=True)]
    return {
        "ours": statistics.median(mine[1:]),
        "bare": statistics.median(theirs[1:]),
        "ratio": statistics.median(ratios),
    }


def attempt(label: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, or the reason it could not run (one line), printed with its traceback."""
    try:
        return fn()
    except Exception as exc:
        traceback.print_exc()
        print(f"{label}: could not run: {exc}", file=sys.stderr)
        return f"not measured: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Lightning's, MLflow's and W&B's chatter kept off the table's output."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# --- 1. the pytorch capture: SummaryWriter.add_scalar per training step -------------------


def pytorch_steps(root: Path, rounds: int, steps: int) -> dict[str, float]:
    """Median seconds per training step (forward, backward, SGD step, ``add_scalar``)."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    import ferrotrack.core as ft

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(BATCH, 64), torch.randn(BATCH, 1)

    def loop(writer: Any) -> float:
        t0 = time.perf_counter()
        for step in range(steps):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            writer.add_scalar("train/loss", loss.item(), step)
        return (time.perf_counter() - t0) / steps

    def bare(i: int) -> float:
        # each writer's files in a folder of their own, made outside the timer
        with SummaryWriter(log_dir=str(root / f"bare-{i}")) as writer:
            return loop(writer)

    def ours(i: int) -> float:
        with (
            ft.start_run(f"bench-{i}", root=root / "store", frameworks=["pytorch"]) as run,
            SummaryWriter(log_dir=str(root / f"ours-{i}")) as writer,
        ):
            seconds = loop(writer)
        if run.summary()["train/loss"]["count"] != steps:
            raise RuntimeError("the pytorch capture did not record every step")
        return seconds

    return paired(rounds, ours, bare)


# --- 2, 3. Lightning loggers ---------------------------------------------------------------


def lightning_fits(root: Path, rounds: int, peer_rounds: int, batches: int) -> dict[str, Any]:
    """Median seconds per ``Trainer.fit`` with each logger (trainer made outside the timer;
    the logger's run opened and closed inside it)."""
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.loggers import CSVLogger
    from torch.utils.data import DataLoader, TensorDataset

    import ferrotrack.core as ft
    from ferrotrack.frameworks.lightning import FerrotrackLogger

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 1)
            )

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train/loss", loss)
            self.log("train/lr", 0.01)
            return loss

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    generator = torch.Generator().manual_seed(0)
    data = DataLoader(
        TensorDataset(
            torch.randn(batches * BATCH, 64, generator=generator),
            torch.randn(batches * BATCH, 1, generator=generator),
        ),
        batch_size=BATCH,
    )

    def fit(logger: Any, finish: Callable[[], None] | None = None) -> float:
        torch.manual_seed(0)
        with quiet():
            trainer = pl.Trainer(
                max_epochs=1,
                logger=logger,
                log_every_n_steps=1,
                accelerator="cpu",
                devices=1,
                enable_progress_bar=False,
                enable_model_summary=False,
                enable_checkpointing=False,
            )
            model = Model()
            t0 = time.perf_counter()
            trainer.fit(model, data)
            if finish is not None:
                finish()
            return time.perf_counter() - t0

    result: dict[str, Any] = paired(
        rounds,
        lambda i: fit(FerrotrackLogger("bench", root=root / "store")),
        lambda i: fit(CSVLogger(save_dir=str(root / "csv"), name=f"r{i}")),
    )

    def in_run(frameworks: list[str]) -> Callable[[int], float]:
        def measure(i: int) -> float:
            with ft.start_run(root=root / "store", frameworks=frameworks) as run:
                seconds = fit(False)
            if frameworks and run.summary()["train/loss"]["count"] != batches:
                raise RuntimeError("the self.log capture did not record every step")
            return seconds

        return measure

    result["capture"] = paired(rounds, in_run(["lightning"]), in_run([]))
    for name, make in available_peers(root).items():  # for scale: fewer rounds

        def peer(i: int, make: Any = make) -> float:
            logger, finish = make(i)
            return fit(logger, finish)

        result[name] = paired(
            peer_rounds, peer, lambda i: fit(CSVLogger(save_dir=str(root / "csv"), name=f"p{i}"))
        )
    return result


def available_peers(root: Path) -> dict[str, Callable[[int], tuple[Any, Callable[[], None]]]]:
    """The peers' Lightning loggers that are installed, each made fresh per round."""
    peers: dict[str, Callable[[int], tuple[Any, Callable[[], None]]]] = {}
    if importlib.util.find_spec("mlflow") is not None:
        uri = f"sqlite:///{root / 'mlflow.db'}"

        def mlflow_logger(i: int) -> tuple[Any, Callable[[], None]]:
            from lightning.pytorch.loggers import MLFlowLogger

            return MLFlowLogger(experiment_name="bench", tracking_uri=uri), lambda: None

        peers["mlflow"] = mlflow_logger
    if importlib.util.find_spec("wandb") is not None:
        os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(root))

        def wandb_logger(i: int) -> tuple[Any, Callable[[], None]]:
            import wandb
            from lightning.pytorch.loggers import WandbLogger

            logger = WandbLogger(project="bench", offline=True, save_dir=str(root))
            return logger, wandb.finish  # a fair end: our run is closed inside fit too

        peers["wandb"] = wandb_logger
    return peers


# --- the table -------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print, leave the docs alone")
    args = parser.parse_args()
    rounds, peer_rounds = (3, 1) if args.quick else (31, 3)
    torch_rounds = 5 if args.quick else 101  # cheap rounds: many, for a steadier median
    steps, batches = (200, 50) if args.quick else (200, 200)
    import torch

    torch.set_num_threads(1)  # one core, as the machine is shared: steadier figures

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ferrotrack-bench-frameworks-") as name:
        tmp = Path(name)
        os.chdir(tmp)
        torch_result = attempt("1. pytorch", lambda: pytorch_steps(tmp / "pt", torch_rounds, steps))
        fits = attempt(
            "2. lightning", lambda: lightning_fits(tmp / "pl", rounds, peer_rounds, batches)
        )
    load_after = os.getloadavg()

    rows = [
        "| measure | ours | baseline (same run) | ratio | target | status |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    if isinstance(torch_result, str):
        rows.append(f"| (1) pytorch capture | {torch_result} | | | ≤ {TARGET}× | |")
    else:
        extra = (torch_result["ratio"] - 1) * torch_result["bare"] * 1e6
        rows.append(
            f"| (1) one training step of a 64-128-1 MLP (batch {BATCH}) + "
            f'`SummaryWriter.add_scalar`, in `start_run(frameworks=["pytorch"])` '
            f"(≈ {extra:+.0f} µs a step at the median ratio) "
            f"| {torch_result['ours'] * 1e6:.1f} µs "
            f"| only the `SummaryWriter`: {torch_result['bare'] * 1e6:.1f} µs "
            f"| {torch_result['ratio']:.3f}× | ≤ {TARGET}× "
            f"| {verdict(torch_result['ratio'] <= TARGET)} |"
        )
    if isinstance(fits, str):
        rows.append(f"| (2) Lightning `FerrotrackLogger` | {fits} | | | ≤ {TARGET}× | |")
    else:
        ratio = fits["ratio"]
        rows.append(
            f"| (2) `Trainer.fit`, {batches} steps logging 2 metrics each step, "
            f"`FerrotrackLogger` (its run opened and closed in the fit) "
            f"| {fits['ours']:.3f} s | `CSVLogger`: {fits['bare']:.3f} s | {ratio:.3f}× "
            f"| ≤ {TARGET}× | {verdict(ratio <= TARGET)} |"
        )
        capture = fits["capture"]
        rows.append(
            f"| (3) the same fit with no logger, `self.log` captured by "
            f'`start_run(frameworks=["lightning"])` (both inside an open run) '
            f"| {capture['ours']:.3f} s | not captured: {capture['bare']:.3f} s "
            f"| {capture['ratio']:.3f}× | for the record | |"
        )
        labels = {
            "mlflow": "(4) the same fit with MLflow's `MLFlowLogger` (SQLite, for scale)",
            "wandb": "(4) the same fit with W&B's `WandbLogger` (offline, incl. "
            "`wandb.finish`, for scale)",
        }
        for peer, label in labels.items():
            if peer in fits:
                got = fits[peer]
                rows.append(
                    f"| {label} | {got['ours']:.3f} s | `CSVLogger`: {got['bare']:.3f} s "
                    f"| {got['ratio']:.2f}× | | |"
                )
            else:
                rows.append(f"| {label} | not installed | | | | |")
    quick = " --quick" if args.quick else ""
    body = "\n".join(
        [
            "## Frameworks (`bench/frameworks.py`)",
            "",
            f"Reproduce: `.venv/bin/python bench/frameworks.py{quick}` ({machine()}). "
            f"(1): time per step over {steps} steps, {torch_rounds} rounds after a warm-up; "
            f"(2), (3): {rounds} rounds, (4): {peer_rounds}, also after a warm-up; "
            "each round measures ours and the baseline once, "
            "in swapped order every round. Times are medians; the ratio is the median of "
            "the rounds' own ratios (a change of load between rounds cancels out). CPU "
            "only, one process, torch on one thread.",
            "",
            *rows,
            "",
            load_average(load_before, load_after),
        ]
    )
    print(body)
    if not args.no_write:
        write_section("frameworks", body)


if __name__ == "__main__":
    main()
