"""``plots``: one figure per metric, every chosen run's curve on it (a legend when there
are several), as PNG and/or SVG files.

Curves are downsampled in polars before matplotlib sees them (``ferrotrack.core.downsample``,
min/max per bucket, so spikes stay): a run of a million points draws at most
``max_points`` per curve. matplotlib is imported when ``process()`` runs, and drawn through
its Agg canvas without ``pyplot``, so no global backend or figure state is touched.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, StrictInt

from ferrotrack.core.plugins.execution import ModelRun
from ferrotrack.core.plugins.imports import require
from ferrotrack.postprocess.base import ProcessorBase
from ferrotrack.postprocess.config import RunsConfig
from ferrotrack.postprocess.errors import check_names
from ferrotrack.postprocess.paths import dest_folder
from ferrotrack.postprocess.results import succeeded
from ferrotrack.postprocess.selection import Selection, select_runs
from ferrotrack.postprocess.staging import StagedFiles, staged

if TYPE_CHECKING:
    import polars as pl

__all__ = ["INSTALL_HINT", "PlotsConfig", "PlotsPostprocessor", "curves", "file_stem"]

Format = Literal["png", "svg"]

INSTALL_HINT = "pip install ferrotrack-postprocess[plots]"
"""What to install when matplotlib is missing."""


class PlotsConfig(RunsConfig):
    """Arguments of ``plots``: which runs and metrics, the formats, the detail."""

    formats: list[Format] = Field(default_factory=lambda: list[Format](["png"]), min_length=1)
    """File formats; one file per metric and format."""
    names: list[str] | None = Field(default=None, min_length=1)
    """The metrics to draw; default every metric of the chosen runs."""
    max_points: StrictInt = Field(default=2000, ge=4)
    """The most points drawn per curve (runs longer than that are downsampled)."""
    dpi: StrictInt = Field(default=100, ge=10, le=1200)
    """Resolution of PNG files."""


class PlotsPostprocessor(ProcessorBase):
    """One figure per metric, several runs overlaid, PNG and/or SVG."""

    processor_name = "plots"
    description = "One PNG/SVG figure per metric, downsampled, several runs overlaid."
    config_class = PlotsConfig
    dependencies = ("matplotlib",)
    extra = "plots"

    def run(self, model_run: ModelRun, config: Any) -> dict[str, Any]:
        """``plots`` (metric -> files), ``files``, ``runs`` and ``labels`` (legend entries)."""
        assert isinstance(config, PlotsConfig)
        require("matplotlib", "the plots postprocessor", install=INSTALL_HINT)
        selection = select_runs(model_run, config)
        data = curves(selection, config.names, config.max_points)
        metrics = sorted(data.get_column("name").unique().to_list())
        check_names(config.names, metrics)
        labels = selection.labels()
        by_metric: dict[str, list[str]] = {}
        with staged(dest_folder(model_run, self.processor_name, config.dest)) as files:
            stems: set[str] = set()
            for name in metrics:
                stem = file_stem(name, stems)
                drawn = data.filter(data.get_column("name") == name)
                by_metric[name] = _draw(files, stem, name, drawn, labels=labels, config=config)
        plots = {m: [str(files.dest / f) for f in names] for m, names in by_metric.items()}
        everything = [p for paths in plots.values() for p in paths]
        return succeeded(
            self.processor_name,
            model_run.run_id,
            f"drew {len(plots)} metric(s) of {len(selection.refs)} run(s) into {files.dest}",
            runs=selection.run_ids,
            labels=[labels[r] for r in selection.run_ids],
            plots=plots,
            files=everything,
        )


def curves(selection: Selection, names: list[str] | None, max_points: int) -> pl.DataFrame:
    """run_id, name, step, value of every chosen curve, at most ``max_points`` per curve
    (min/max downsampling: the first, last, lowest and highest point of each bucket)."""
    import polars as pl

    import ferrotrack.core as ft

    points = selection.points(names).select("run_id", "name", "step", "value")
    thin = ft.downsample(points, buckets=max_points // 4, method="minmax", by=["run_id", "name"])
    # the keys stay categorical while sorting and bucketing (cheaper than strings)
    return thin.with_columns(pl.col("run_id", "name").cast(pl.String)).collect()


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(metric: str, taken: set[str]) -> str:
    """A file name for ``metric`` (``train/loss`` -> ``train_loss``), unique among ``taken``
    (which it joins)."""
    base = _UNSAFE.sub("_", metric).strip("._") or "metric"
    stem, n = base, 1
    while stem in taken:
        n += 1
        stem = f"{base}-{n}"
    taken.add(stem)
    return stem


def _draw(
    files: StagedFiles,
    stem: str,
    metric: str,
    data: pl.DataFrame,
    *,
    labels: dict[str, str],
    config: PlotsConfig,
) -> list[str]:
    """Draws one metric's figure and writes it in each format; returns the file names."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=config.dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    runs = data.get_column("run_id").unique(maintain_order=True).to_list()
    order = {rid: i for i, rid in enumerate(labels)}
    for run_id in sorted(runs, key=lambda r: order.get(r, len(order))):
        curve = data.filter(data.get_column("run_id") == run_id)
        values = curve.get_column("value").to_numpy().copy()
        values[~np.isfinite(values)] = np.nan  # inf would wreck the axes' limits: a gap
        axes.plot(curve.get_column("step").to_numpy(), values, label=labels.get(run_id, run_id))
    axes.set_title(metric)
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.grid(True, alpha=0.3)
    if len(runs) > 1:
        axes.legend()
    written = []
    for fmt in config.formats:
        name = f"{stem}.{fmt}"
        figure.savefig(files.path(name), format=fmt)
        written.append(name)
    return written
