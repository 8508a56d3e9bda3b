"""``plots``: one figure per metric, a line per chosen run and rank on it (a legend when
there are several), as PNG and/or SVG files.

Curves are downsampled in polars before matplotlib sees them (``ferrotrack.core.downsample``,
min/max of the finite values per bucket, so spikes stay; gaps are kept, see :func:`curves`):
a run of a million points draws at most ``max_points`` per line. Curves of few points and
lone points between gaps get markers (a single point draws no line). matplotlib is
imported when ``process()`` runs, and drawn through its Agg canvas without ``pyplot``, so
no global backend or figure state is touched.
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
    import numpy as np
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
        """``plots`` (metric -> files), ``files``, ``runs``, ``labels`` (each run's legend
        entry) and ``points_drawn`` (metric -> line label -> points drawn)."""
        assert isinstance(config, PlotsConfig)
        require("matplotlib", "the plots postprocessor", install=INSTALL_HINT)
        selection = select_runs(model_run, config)
        data = curves(selection, config.names, config.max_points)
        metrics = sorted(data.get_column("name").unique().to_list())
        check_names(config.names, metrics)
        labels = selection.labels()
        if not metrics:
            return succeeded(
                self.processor_name,
                model_run.run_id,
                f"nothing drawn: the {len(selection.refs)} chosen run(s) logged no metric "
                "(no file written)",
                runs=selection.run_ids,
                labels=[labels[r] for r in selection.run_ids],
                plots={},
                files=[],
                points_drawn={},
            )
        by_metric: dict[str, list[str]] = {}
        points_drawn: dict[str, dict[str, int]] = {}
        with staged(dest_folder(model_run, self.processor_name, config.dest)) as files:
            stems: set[str] = set()
            for name in metrics:
                stem = file_stem(name, stems)
                drawn = data.filter(data.get_column("name") == name)
                by_metric[name], points_drawn[name] = _draw(
                    files, stem, name, drawn, labels=labels, config=config
                )
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
            points_drawn=points_drawn,
        )


KEYS = ["run_id", "rank", "name"]
"""What tells one curve from another: the ranks of a run are separate processes, each with
its own curve (drawn as one line, they would zig-zag between each other's points)."""


def curves(selection: Selection, names: list[str] | None, max_points: int) -> pl.DataFrame:
    """run_id, rank, name, step, value of every chosen curve, in step order, at most
    ``max_points`` rows per curve.

    A curve of up to ``max_points`` points is kept whole. A longer one is downsampled by
    min/max over its finite values (the first, last, lowest and highest point of each
    bucket: spikes stay, and an inf never takes the place of a bucket's finite peak); a
    curve holding NaN or ±inf also keeps the first non-finite point of each of its
    buckets, so that its gaps stay gaps. The budget is shared: 4 finite points per bucket
    (5 with a gap) and never more than ``max_points`` in all.
    """
    import polars as pl

    import ferrotrack.core as ft

    finite = pl.col("value").is_finite()
    points = (
        selection.points(names)
        .select(*KEYS, "step", "value")
        .with_row_index("_row")
        .with_columns(_n=pl.len().over(KEYS), _gappy=(~finite).any().over(KEYS))
    )
    long = pl.col("_n") > max_points
    kept = [points.filter(~long)]
    whole = points.filter(long & ~pl.col("_gappy"))
    kept.append(ft.downsample(whole, buckets=max_points // 4, method="minmax", by=KEYS))
    holed = points.filter(long & pl.col("_gappy"))
    buckets = max(1, max_points // 5)
    kept.append(ft.downsample(holed.filter(finite), buckets=buckets, method="minmax", by=KEYS))
    gaps = min(buckets, max_points - 4 * buckets)  # 0 only when max_points == 4
    if gaps > 0:
        kept.append(_first_gap_per_bucket(holed.filter(~finite), gaps))
    return (
        pl.concat(kept)
        .sort(*KEYS, "step", "_row")
        .drop("_row", "_n", "_gappy")
        # the keys stay categorical while sorting and bucketing (cheaper than strings)
        .with_columns(pl.col("run_id", "name").cast(pl.String))
        .collect()
    )


def _first_gap_per_bucket(gaps: pl.LazyFrame, buckets: int) -> pl.LazyFrame:
    """The first row of each of ``buckets`` equal slices of each curve's step range."""
    import polars as pl

    step = pl.col("step")
    lo = step.min().over(KEYS)
    span = (step.max().over(KEYS) - lo).cast(pl.Float64)
    slot = ((step - lo).cast(pl.Float64) * buckets / span).floor().clip(0, buckets - 1)
    bucket = pl.when(span > 0).then(slot).otherwise(0).cast(pl.Int64)
    return (
        gaps.sort(*KEYS, "step", "_row")
        .with_columns(_bucket=bucket)
        .filter(pl.int_range(pl.len()).over([*KEYS, "_bucket"]) == 0)
        .drop("_bucket")
    )


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
) -> tuple[list[str], dict[str, int]]:
    """Draws one metric's figure, one line per run and rank, and writes it in each format;
    returns the file names and the number of points each line drew, by legend label."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=config.dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    order = {rid: i for i, rid in enumerate(labels)}
    lines = sorted(
        data.select("run_id", "rank").unique().iter_rows(),
        key=lambda line: (order.get(line[0], len(order)), line[0], line[1]),
    )
    ranks: dict[str, int] = {}
    for run_id, _ in lines:
        ranks[run_id] = ranks.get(run_id, 0) + 1
    drawn: dict[str, int] = {}
    for run_id, rank in lines:
        label = labels.get(run_id, run_id)
        if ranks[run_id] > 1:
            label = f"{label} (rank {rank})"
        curve = data.filter(run_id=run_id, rank=rank)
        steps = curve.get_column("step").to_numpy()
        values, style = _gaps_and_markers(curve.get_column("value").to_numpy().copy())
        (line,) = axes.plot(steps, values, label=label, **style)
        drawn[label] = int(np.asarray(line.get_xdata()).size)  # what the line was given
    axes.set_title(metric)
    axes.set_xlabel("step")
    axes.set_ylabel(metric)
    axes.grid(True, alpha=0.3)
    if len(lines) > 1:
        axes.legend()
    written = []
    for fmt in config.formats:
        name = f"{stem}.{fmt}"
        figure.savefig(files.path(name), format=fmt)
        written.append(name)
    return written, drawn


SPARSE = 3
"""A curve of at most this many points is drawn with a marker on each."""


def _gaps_and_markers(values: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """``values`` with NaN for every non-finite value (inf would wreck the axes' limits: a
    gap), and the style that makes lone points visible: a line needs two neighbouring
    finite points, so a curve of a point or few, or a point between gaps, gets a marker."""
    import numpy as np

    finite = np.isfinite(values)
    values[~finite] = np.nan
    if len(values) <= SPARSE:
        return values, {"marker": "o", "markersize": 4}
    before = np.concatenate(([False], finite[:-1]))
    after = np.concatenate((finite[1:], [False]))
    alone = np.flatnonzero(finite & ~before & ~after)
    if alone.size == 0:
        return values, {}
    return values, {"marker": "o", "markersize": 4, "markevery": alone.tolist()}
