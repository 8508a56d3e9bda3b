"""Downsampling long series for plotting, in polars expressions (no Python loop over points)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeVar

import polars as pl

from ferrotrack.core.errors import InvalidArgumentError

__all__ = ["downsample"]

F = TypeVar("F", pl.DataFrame, pl.LazyFrame)
_SERIES_KEYS = ("experiment", "run_id", "name")


def downsample(
    frame: F,
    *,
    every: int | float | None = None,
    buckets: int | None = None,
    method: Literal["minmax", "lttb"] = "minmax",
    x: str = "step",
    y: str = "value",
    by: Sequence[str] | None = None,
) -> F:
    """Fewer points per series that keep its shape; returns rows of ``frame``, in x order.

    Buckets are ``every`` units of ``x`` wide, or ``buckets`` equal slices of each series'
    x range. ``by`` names the series (default: whichever of experiment, run_id, name exist).

    - ``minmax`` keeps, per bucket, the first and last point and the points with the lowest
      and highest ``y`` (at most 4 per bucket): spikes survive.
    - ``lttb`` keeps one point per bucket, the one spanning the largest triangle with the
      mean points of the neighbouring buckets, plus each series' first and last point.
      (Classic LTTB anchors on the point chosen in the previous bucket, which makes it
      sequential; anchoring on the mean keeps every bucket independent and vectorised.)

    >>> downsample(metrics(names=["train/loss"]), buckets=1000).collect()  # doctest: +SKIP
    """
    if (every is None) == (buckets is None):
        raise InvalidArgumentError("downsample: give exactly one of every= or buckets=")
    if every is not None and not every > 0:
        raise InvalidArgumentError(f"every={every!r}: expected a positive number")
    if buckets is not None and (not isinstance(buckets, int) or buckets < 1):
        raise InvalidArgumentError(f"buckets={buckets!r}: expected a positive int")
    if method not in ("minmax", "lttb"):
        raise InvalidArgumentError(f"method {method!r}: expected 'minmax' or 'lttb'")
    lazy = frame.lazy()
    names = lazy.collect_schema().names()
    keys: list[str] = [c for c in _SERIES_KEYS if c in names] if by is None else list(by)
    ordered = lazy.with_row_index("_i").sort([*keys, x, "_i"])
    binned = ordered.with_columns(_bucket=_bucket(pl.col(x).to_physical(), keys, every, buckets))
    kept = _minmax(binned, keys, y) if method == "minmax" else _lttb(binned, keys, x, y)
    out = kept.drop("_i", "_bucket")
    return out.collect() if isinstance(frame, pl.DataFrame) else out


def _over(expr: pl.Expr, keys: list[str]) -> pl.Expr:
    return expr.over(keys) if keys else expr


def _bucket(xs: pl.Expr, keys: list[str], every: float | None, buckets: int | None) -> pl.Expr:
    if every is not None:
        return (xs / every).floor().cast(pl.Int64)
    assert buckets is not None
    lo = _over(xs.min(), keys)
    span = _over(xs.max(), keys) - lo
    scaled = ((xs - lo).cast(pl.Float64) * buckets / span.cast(pl.Float64)).floor()
    return pl.when(span > 0).then(scaled.clip(0, buckets - 1)).otherwise(0).cast(pl.Int64)


def _minmax(frame: pl.LazyFrame, keys: list[str], y: str) -> pl.LazyFrame:
    group = [*keys, "_bucket"]
    i, v = pl.col("_i"), pl.col(y)
    keep = (
        (i == i.first().over(group))
        | (i == i.last().over(group))
        | (i == i.get(v.arg_min()).over(group))
        | (i == i.get(v.arg_max()).over(group))
    )
    return frame.filter(keep)


def _lttb(frame: pl.LazyFrame, keys: list[str], x: str, y: str) -> pl.LazyFrame:
    group = [*keys, "_bucket"]
    xs, ys = pl.col(x).to_physical().cast(pl.Float64), pl.col(y)
    means = (
        frame.group_by(group)
        .agg(_mx=xs.mean(), _my=ys.mean())
        .sort(group)
        .with_columns(
            _ax=_over(pl.col("_mx").shift(1), keys),
            _ay=_over(pl.col("_my").shift(1), keys),
            _cx=_over(pl.col("_mx").shift(-1), keys),
            _cy=_over(pl.col("_my").shift(-1), keys),
        )
        .select(*group, "_ax", "_ay", "_cx", "_cy")
    )
    ax, ay, cx, cy = pl.col("_ax"), pl.col("_ay"), pl.col("_cx"), pl.col("_cy")
    area = ((ax - cx) * (ys - ay) - (ax - xs) * (cy - ay)).abs()
    i = pl.col("_i")
    chosen = i.get(area.fill_nan(-1.0).fill_null(-1.0).arg_max()).over(group)
    keep = (i == chosen) | (i == _over(i.first(), keys)) | (i == _over(i.last(), keys))
    return (
        frame.join(means, on=group, how="left", maintain_order="left")
        .filter(keep)
        .drop("_ax", "_ay", "_cx", "_cy")
    )
