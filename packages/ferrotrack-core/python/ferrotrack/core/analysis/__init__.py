"""Analysis of a store with polars: a table of runs, every point as a LazyFrame, helpers.

>>> import ferrotrack.core.analysis as fa
>>> fa.runs(experiment="cifar10").sort("val/acc.max", descending=True)  # doctest: +SKIP
>>> fa.metrics(experiment="cifar10", names=["train/loss"]).collect()    # doctest: +SKIP
"""

from __future__ import annotations

from ferrotrack.core.analysis.downsample import downsample
from ferrotrack.core.analysis.events import events
from ferrotrack.core.analysis.points import metrics
from ferrotrack.core.analysis.queries import best_run, final_values, wide
from ferrotrack.core.analysis.table import runs

__all__ = ["best_run", "downsample", "events", "final_values", "metrics", "runs", "wide"]
