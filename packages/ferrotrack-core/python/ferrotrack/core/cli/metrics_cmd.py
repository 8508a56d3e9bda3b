"""``ferrotrack metrics RUN``: the points of a run, printed or exported."""

from __future__ import annotations

from pathlib import Path

import click

from ferrotrack.core.cli._common import echo_json, err_console, out_console, store_root
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.store.catalog import find_run

__all__ = ["metrics_cmd"]

_PREVIEW_ROWS = 20


@click.command("metrics")
@click.argument("run")
@click.option("--name", "-m", "names", multiple=True, help="Only these metrics (repeatable).")
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Write to a .csv or .parquet file."
)
@click.option("--json", "as_json", is_flag=True, help="Print every point as JSON.")
def metrics_cmd(run: str, names: tuple[str, ...], output: str | None, as_json: bool) -> None:
    """Points of RUN (id, id prefix or name): a preview, JSON, or an export with -o."""
    import polars as pl
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from ferrotrack.core.analysis.points import metrics

    root = store_root()
    ref = find_run(run, root)
    frame = metrics(root, runs=[f"{ref.experiment}/{ref.run_id}"], names=names or None)
    frame = frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
    if output is not None:
        path = Path(output)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise InvalidArgumentError(f"-o {output}: expected a .csv or .parquet file name")
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err_console(),
            transient=True,
        ) as progress:
            progress.add_task(f"writing {path}", total=None)
            if suffix == ".csv":
                frame.sink_csv(path)
            else:
                frame.sink_parquet(path)
        click.echo(f"wrote {path}", err=True)
        return
    data = frame.collect()
    if as_json:
        echo_json(data.with_columns(pl.col("timestamp").dt.to_string()).to_dicts())
        return
    with pl.Config(tbl_rows=_PREVIEW_ROWS, tbl_cols=-1, tbl_width_chars=160):
        out_console().print(str(data.drop("experiment", "run_id")), markup=False)
