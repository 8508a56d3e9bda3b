"""ferrotrack.core: log metrics from tight loops into a crash-safe Parquet store.

>>> import ferrotrack.core as ft
>>> w = ft.MetricWriter(tmp_path / "run")          # doctest: +SKIP
>>> w.log("train/loss", 0.5, step=0)                # doctest: +SKIP
"""

from __future__ import annotations

from ferrotrack.core import errors
from ferrotrack.core._native import FORMAT_VERSION, MAX_NAME_BYTES, MetricWriter

__all__ = ["FORMAT_VERSION", "MAX_NAME_BYTES", "MetricWriter", "errors"]
