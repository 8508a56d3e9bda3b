"""``ferrotrack report [--root] [--experiment NAME] [RUN …] -o report.html``."""

from __future__ import annotations

from pathlib import Path

import click

from ferrotrack.ui.report.build import DEFAULT_DETAILED, DEFAULT_POINTS

__all__ = ["report_command"]


@click.command("report")
@click.argument("runs", nargs=-1)
@click.option("--root", type=click.Path(path_type=Path), default=None, help="Store folder.")
@click.option("--experiment", "-e", default=None, help="Only the runs of this experiment.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file to write.",
)
@click.option("--title", default=None, help="Shown at the top of the report.")
@click.option(
    "--points",
    type=click.IntRange(min=4),
    default=DEFAULT_POINTS,
    show_default=True,
    help="Points per series (each bucket's extremes are kept).",
)
@click.option(
    "--detailed",
    type=click.IntRange(min=0),
    default=DEFAULT_DETAILED,
    show_default=True,
    help="Runs whose page and charts the report holds (the table lists every run).",
)
def report_command(
    *,
    runs: tuple[str, ...],
    root: Path | None,
    experiment: str | None,
    output: Path,
    title: str | None,
    points: int,
    detailed: int,
) -> None:
    """Write the runs table, run pages, charts and params diff into one HTML file that
    opens from disk with no server and no network. RUN: run ids (default: every run of
    --experiment, or of the store)."""
    from ferrotrack.core.cli._common import err_console, store_root
    from ferrotrack.ui.report.build import collect_report, write_report

    folder = store_root(root)
    data = collect_report(
        folder, experiment=experiment, runs=runs, title=title, points=points, detailed=detailed
    )
    path = write_report(data, output)
    size = path.stat().st_size / 1e6
    err_console().print(f"wrote {len(data['runs'])} run(s) to {path} ({size:.1f} MB)")
    click.echo(str(path))
