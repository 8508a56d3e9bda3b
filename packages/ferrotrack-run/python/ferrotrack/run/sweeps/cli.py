"""``ferrotrack sweep MODEL.yaml --grid lr=1e-3,1e-4 [--random ...] --backend NAME``.

One row per point is printed (a table, CSV or JSON); the command exits 1 when a point
failed, so a scheduler or CI sees it. A spec that cannot be read is a usage error
(exit 2) naming the option.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ferrotrack.core.cli._common import echo_json, out_console, state

__all__ = ["sweep_command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("sweep")
@click.argument("model_file", type=_FILE)
@click.option(
    "--grid",
    "grids",
    multiple=True,
    metavar="KEY=V1,V2",
    help="Values of a config key (dotted for nested; YAML scalars). Repeatable: the product.",
)
@click.option(
    "--random",
    "randoms",
    multiple=True,
    metavar="KEY=DIST",
    help="A distribution: uniform(a,b), loguniform(a,b), int(a,b), choice(x,y). Repeatable.",
)
@click.option("--samples", type=click.IntRange(min=1), default=None, help="Random points.")
@click.option("--seed", type=int, default=None, help="Seed of the random search.")
@click.option("--backend", "-b", default=None, help="Run backend (default: local).")
@click.option(
    "--backend-config", "config_file", type=_FILE, default=None, help="Backend config YAML."
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Points running at once.",
)
@click.option(
    "--output",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="How the result is printed.",
)
def sweep_command(  # noqa: PLR0917  (click passes each option)
    model_file: Path,
    grids: tuple[str, ...],
    randoms: tuple[str, ...],
    samples: int | None,
    seed: int | None,
    backend: str | None,
    config_file: Path | None,
    max_concurrency: int,
    output: str,
) -> None:
    """Run MODEL_FILE (YAML of ModelRun fields) once per point of a grid or random search;
    exit 1 if a point failed."""
    from ferrotrack.run.cli import backend_options
    from ferrotrack.run.model import ModelRun
    from ferrotrack.run.sweeps.sweep import run_sweep

    space = _space(grids, randoms, samples, seed)
    model = ModelRun.from_yaml(model_file)
    if model.root is None:
        model.root = state().root
    name, options = backend_options(backend, config_file)
    result = run_sweep(model, backend=name, max_concurrency=max_concurrency, **space, **options)
    frame = result.results
    if output == "csv":
        sys.stdout.write(frame.write_csv())
    elif output == "json":
        echo_json(frame.to_dicts())
    else:
        _print_table(frame, result.run_id, name)
    if not result.ok:
        sys.exit(1)


def _space(
    grids: tuple[str, ...], randoms: tuple[str, ...], samples: int | None, seed: int | None
) -> dict[str, Any]:
    """The keyword arguments of ``run_sweep`` that make the space."""
    from ferrotrack.run.sweeps.space import SweepSpecError, parse_grid_spec, parse_random_spec

    if bool(grids) == bool(randoms):
        raise click.UsageError("give --grid KEY=V1,V2 (repeatable) or --random KEY=DIST, not both")
    try:
        if grids:
            if samples is not None or seed is not None:
                raise click.UsageError("--samples and --seed go with --random, not --grid")
            return {"grid": dict(parse_grid_spec(spec) for spec in grids)}
        space = dict(parse_random_spec(spec) for spec in randoms)
        if samples is None:
            raise click.UsageError("--random needs --samples N (how many points to draw)")
        return {"random": space, "samples": samples, "seed": seed}
    except SweepSpecError as exc:
        raise click.BadParameter(str(exc), param_hint="--grid" if grids else "--random") from None


def _print_table(frame: Any, run_id: str, backend: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    shown = [c for c in frame.columns if c != "run_id"]
    for column in shown:
        table.add_column(escape(column), no_wrap=column in ("point", "success", "status"))
    for row in frame.iter_rows(named=True):
        cells = []
        for column in shown:
            value = row[column]
            text = (
                "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)
            )
            if column == "success":
                text = "[green]yes[/]" if value else "[red]no[/]"
            cells.append(text if column == "success" else escape(text))
        table.add_row(*cells)
    console = out_console()
    console.print(table)
    failed = frame.height - int(frame["success"].sum())
    console.print(
        f"sweep run {run_id} on {escape(backend)}: {frame.height} point(s), {failed} failed"
    )
