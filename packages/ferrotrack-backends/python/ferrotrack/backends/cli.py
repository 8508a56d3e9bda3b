"""``ferrotrack import tensorboard|mlflow|wandb``: people's history comes with them.

Each sub-command reads the foreign runs with its tool's importer and writes them with
``ferrotrack.core.importing.import_runs``; importing the same runs again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ferrotrack.core.cli._common import err_console, out_console, state
from ferrotrack.core.importing import ImportedRun, ImportResult, import_runs

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["import_group"]


@click.group("import")
def import_group() -> None:
    """Bring runs from TensorBoard, MLflow or W&B into the store (again: nothing changes)."""


@import_group.command("tensorboard")
@click.argument("logdir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--experiment", "-e", default=None, help="Experiment (default: LOGDIR's name).")
def tensorboard_cmd(logdir: Path, experiment: str | None) -> None:
    """Every folder under LOGDIR holding event files becomes one run."""
    from ferrotrack.backends.tensorboard.importer import read_runs

    _import("tensorboard", read_runs(logdir, experiment=experiment))


@import_group.command("mlflow")
@click.option("--tracking-uri", required=True, help="The MLflow server or store to read.")
@click.option("--experiment", "-e", default=None, help="Only this MLflow experiment.")
def mlflow_cmd(tracking_uri: str, experiment: str | None) -> None:
    """Every run of the MLflow experiments (or of one), parents before children."""
    from ferrotrack.backends.mlflow.importer import read_runs

    _import("mlflow", read_runs(tracking_uri, experiment=experiment))


@import_group.command("wandb")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--experiment", "-e", default=None, help="Experiment (default: the W&B project).")
def wandb_cmd(directory: Path, experiment: str | None) -> None:
    """Every W&B offline run folder under DIRECTORY (``offline-run-*``, ``run-*``)."""
    from ferrotrack.backends.wandb.importer import read_runs

    _import("wandb", read_runs(directory, experiment=experiment))


def _import(tool: str, runs: Iterable[ImportedRun]) -> None:
    """Imports with a progress line on stderr and a one-line summary on stdout."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    results: list[ImportResult] = []
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err_console(), transient=True) as bar:
        task = bar.add_task(f"importing from {tool}", total=None)

        def step(result: ImportResult) -> None:
            results.append(result)
            points = sum(r.points for r in results if r.created)
            bar.update(task, description=f"{tool}: {len(results)} runs, {points:,} points")

        import_runs(_announce(runs, bar, task, tool), root=_import_root(), progress=step)
    created = [r for r in results if r.created]
    points = sum(r.points for r in created)
    kept = len(results) - len(created)
    out_console().print(
        f"imported {len(created)} run(s) ({points:,} points) from {tool}"
        + (f"; {kept} already imported, left as they were" if kept else "")
    )


def _import_root() -> Path:
    """The command's store folder, created on a first import (reading commands refuse a
    missing one; an import is how a store may begin)."""
    root = state().root
    root.mkdir(parents=True, exist_ok=True)
    return root


def _announce(
    runs: Iterable[ImportedRun], bar: Progress, task: TaskID, tool: str
) -> Iterator[ImportedRun]:
    """Shows which run is being written, once its reader has it."""
    for run in runs:
        bar.update(task, description=f"{tool}: {run.experiment}/{run.name}")
        yield run
