"""``summary``: the final, min and max value of every metric of the run(s), and the model
run's output files, returned as a dict and written as ``summary.parquet`` and
``outputs.parquet``.

Values come from the runs' summary files (what ``ferrotrack.core.runs()`` shows, kept by
the store at every flush), not from the points: a run of 100 M points is summarised in
the time it takes to read one small file. ``final`` is the last value logged (the rank
whose last point is latest wins); ``min``/``max`` ignore NaN and are ``None`` when every
value is NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.execution import ModelRun
from ferrotrack.postprocess.base import ProcessorBase
from ferrotrack.postprocess.config import RunsConfig
from ferrotrack.postprocess.paths import dest_folder, list_outputs, model_folder
from ferrotrack.postprocess.results import succeeded
from ferrotrack.postprocess.selection import Selection, select_runs
from ferrotrack.postprocess.staging import staged

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "OUTPUTS_FILE",
    "SUMMARY_FILE",
    "SummaryConfig",
    "SummaryPostprocessor",
    "outputs_table",
    "summary_table",
]

SUMMARY_FILE = "summary.parquet"
"""The metrics' table, written in the destination folder."""
OUTPUTS_FILE = "outputs.parquet"
"""The output files' table (path, bytes), written beside it."""


class SummaryConfig(RunsConfig):
    """Arguments of ``summary``: which runs, and where the Parquet file goes."""


class SummaryPostprocessor(ProcessorBase):
    """Final, min and max of each metric, and the output files, as a dict and Parquet."""

    processor_name = "summary"
    description = "Final, min and max of every metric, and the output files (dict + Parquet)."
    config_class = SummaryConfig

    def run(self, model_run: ModelRun, config: Any) -> dict[str, Any]:
        """``metrics`` (run id -> metric -> stats), ``outputs``, and the Parquet files:
        ``path`` (the metrics) and ``outputs_path``."""
        assert isinstance(config, SummaryConfig)
        selection = select_runs(model_run, config)
        table = summary_table(selection)
        folder = model_folder(model_run)
        outputs = list_outputs(folder)
        with staged(dest_folder(model_run, self.processor_name, config.dest)) as files:
            table.write_parquet(files.path(SUMMARY_FILE))
            outputs_table(outputs).write_parquet(files.path(OUTPUTS_FILE))
        path = files.dest / SUMMARY_FILE
        metrics: dict[str, dict[str, dict[str, Any]]] = {rid: {} for rid in selection.run_ids}
        for row in table.iter_rows(named=True):
            stats = {k: row[k] for k in ("final", "final_step", "min", "max", "count", "nan_count")}
            metrics[row["run_id"]][row["name"]] = stats
        return succeeded(
            self.processor_name,
            model_run.run_id,
            f"summarised {table.height} metric(s) of {len(selection.refs)} run(s) into {path}",
            runs=selection.run_ids,
            metrics=metrics,
            outputs=outputs,
            output_dir=str(folder),
            path=str(path),
            outputs_path=str(files.dest / OUTPUTS_FILE),
        )


def outputs_table(outputs: list[dict[str, object]]) -> pl.DataFrame:
    """path (relative, POSIX) and bytes of each output file, typed even when empty."""
    import polars as pl

    schema = {"path": pl.String, "bytes": pl.Int64}
    return pl.DataFrame(outputs, schema=schema)


def summary_table(selection: Selection) -> pl.DataFrame:
    """One row per run and metric: experiment, run_id, name, count, nan_count, final,
    final_step, min, max; in the selection's run order, then by metric name."""
    import polars as pl

    from ferrotrack.core.analysis.summaries import read_summaries

    columns = ["count", "nan_count", "last", "last_step", "min", "max"]
    summary = read_summaries(list(selection.refs), columns=columns)
    owners = selection.frame().with_row_index("run_idx").cast({"run_idx": pl.Int64})
    return (
        owners.join(summary, on="run_idx", how="inner")
        .sort("run_idx", "name")
        .select(
            "experiment",
            "run_id",
            pl.col("name").cast(pl.String),
            "count",
            "nan_count",
            pl.col("last").alias("final"),
            pl.col("last_step").alias("final_step"),
            "min",
            "max",
        )
    )
