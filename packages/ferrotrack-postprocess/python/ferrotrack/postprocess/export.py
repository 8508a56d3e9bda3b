"""``export``: the points and params of the run(s) as two files, Parquet or CSV, for tools
that do not read a ferrotrack store (spreadsheets, R, a colleague's notebook).

- ``points.<fmt>``: long format, one row per point: run_id, rank, name, step, value,
  timestamp (UTC, nanoseconds; ISO 8601 text in CSV), per run, then per rank, in logged
  order (the processes of one run log under ranks of their own, often the same names);
- ``params.<fmt>``: one row per run and parameter: run_id, key (dotted: ``optim.lr``),
  value (JSON text, so that numbers, strings, lists and null survive one column).

:func:`read_points` and :func:`read_params` read either format back with these types.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ferrotrack.core.plugins.execution import ModelRun
from ferrotrack.core.store.catalog import flatten, read_json
from ferrotrack.postprocess.base import ProcessorBase
from ferrotrack.postprocess.config import RunsConfig
from ferrotrack.postprocess.errors import check_names
from ferrotrack.postprocess.paths import dest_folder
from ferrotrack.postprocess.results import succeeded
from ferrotrack.postprocess.selection import Selection, select_runs
from ferrotrack.postprocess.staging import staged

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "ExportConfig",
    "ExportPostprocessor",
    "params_table",
    "points_table",
    "read_params",
    "read_points",
]


class ExportConfig(RunsConfig):
    """Arguments of ``export``: which runs and metrics, the format, where."""

    format: Literal["parquet", "csv"] = "parquet"
    """``parquet`` (typed, compressed) or ``csv``."""
    names: list[str] | None = Field(default=None, min_length=1)
    """The metrics to export; default all."""


class ExportPostprocessor(ProcessorBase):
    """Points and params of the run(s) to Parquet or CSV files."""

    processor_name = "export"
    description = "Points (long format) and params of the run(s) to Parquet or CSV."
    config_class = ExportConfig

    def run(self, model_run: ModelRun, config: Any) -> dict[str, Any]:
        """``files`` and ``rows`` (each keyed ``points`` and ``params``) and ``format``."""
        assert isinstance(config, ExportConfig)
        selection = select_runs(model_run, config)
        points = points_table(selection, config.names)
        check_names(config.names, points.get_column("name").unique().to_list())
        params = params_table(selection)
        fmt = config.format
        names = {"points": f"points.{fmt}", "params": f"params.{fmt}"}
        with staged(dest_folder(model_run, self.processor_name, config.dest)) as files:
            for key, table in (("points", points), ("params", params)):
                target = files.path(names[key])
                if fmt == "csv":
                    table.write_csv(target)
                else:
                    table.write_parquet(target)
        rows = {"points": points.height, "params": params.height}
        return succeeded(
            self.processor_name,
            model_run.run_id,
            f"exported {rows['points']} point(s) and {rows['params']} param(s) of "
            f"{len(selection.refs)} run(s) as {fmt} into {files.dest}",
            runs=selection.run_ids,
            format=fmt,
            files={key: str(files.dest / name) for key, name in names.items()},
            rows=rows,
        )


def points_table(selection: Selection, names: list[str] | None = None) -> pl.DataFrame:
    """run_id, rank, name, step, value, timestamp of every point of the chosen runs."""
    import polars as pl

    return (
        selection.points(names)
        .select(
            pl.col("run_id").cast(pl.String),
            "rank",
            pl.col("name").cast(pl.String),
            "step",
            "value",
            "timestamp",
        )
        .collect()
    )


PARAMS_SCHEMA = {"run_id": "String", "key": "String", "value": "String"}


def params_table(selection: Selection) -> pl.DataFrame:
    """run_id, key (dotted), value (JSON text) of every param of the chosen runs, by key."""
    import polars as pl

    rows: dict[str, list[str]] = {"run_id": [], "key": [], "value": []}
    for ref in selection.refs:
        for key, value in sorted(flatten(read_json(ref.path / "params.json")).items()):
            rows["run_id"].append(ref.run_id)
            rows["key"].append(key)
            rows["value"].append(json.dumps(value))
    return pl.DataFrame(rows, schema=_schema(PARAMS_SCHEMA))


POINTS_SCHEMA = {
    "run_id": "String",
    "rank": "Int32",
    "name": "String",
    "step": "Int64",
    "value": "Float64",
    "timestamp": "Datetime",
}


def read_points(path: str | Path) -> pl.DataFrame:
    """A ``points`` file written by ``export`` (CSV or Parquet, by its suffix), typed."""
    return _read(Path(path), POINTS_SCHEMA)


def read_params(path: str | Path) -> pl.DataFrame:
    """A ``params`` file written by ``export``; ``json.loads`` turns a value back."""
    return _read(Path(path), PARAMS_SCHEMA)


def _schema(spec: dict[str, str]) -> dict[str, pl.DataType]:
    import polars as pl

    types: dict[str, pl.DataType] = {
        "String": pl.String(),
        "Int32": pl.Int32(),
        "Int64": pl.Int64(),
        "Float64": pl.Float64(),
        "Datetime": pl.Datetime("ns", "UTC"),
    }
    return {column: types[kind] for column, kind in spec.items()}


def _read(path: Path, spec: dict[str, str]) -> pl.DataFrame:
    import polars as pl

    schema = _schema(spec)
    if path.suffix == ".csv":
        return pl.read_csv(path, schema=schema)
    return pl.read_parquet(path).cast(schema)  # type: ignore[arg-type]
