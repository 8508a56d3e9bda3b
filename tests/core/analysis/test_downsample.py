"""Downsampling keeps the shape: ends and extremes per bucket, one point per bucket for LTTB."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.core.analysis import downsample
from ferrotrack.core.errors import InvalidArgumentError

series = st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300)


def _frame(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "run_id": ["r"] * len(values),
            "name": ["m"] * len(values),
            "step": list(range(len(values))),
            "value": values,
        }
    )


@given(values=series, every=st.integers(1, 40))
def test_minmax_keeps_first_last_and_extremes_per_bucket(values: list[float], every: int) -> None:
    frame = _frame(values)
    out = downsample(frame, every=every)
    assert out.columns == frame.columns
    kept = set(out.get_column("step").to_list())
    assert out.get_column("step").is_sorted()
    for start in range(0, len(values), every):
        bucket = values[start : start + every]
        idx = range(start, start + len(bucket))
        assert idx[0] in kept
        assert idx[-1] in kept
        assert any(values[i] == min(bucket) for i in kept if i in idx)
        assert any(values[i] == max(bucket) for i in kept if i in idx)
        assert sum(1 for i in kept if i in idx) <= 4
    assert set(out.rows()) <= set(frame.rows())


@given(values=series, buckets=st.integers(1, 50))
def test_lttb_keeps_ends_and_one_point_per_bucket(values: list[float], buckets: int) -> None:
    frame = _frame(values)
    out = downsample(frame.lazy(), buckets=buckets, method="lttb").collect()
    steps = out.get_column("step").to_list()
    assert steps[0] == 0
    assert steps[-1] == len(values) - 1
    assert steps == sorted(set(steps))
    assert len(steps) <= buckets + 2
    assert set(out.rows()) <= set(frame.rows())


def test_series_are_downsampled_apart() -> None:
    frame = pl.concat([_frame([1.0, 2.0, 3.0]), _frame([4.0, 5.0]).with_columns(name=pl.lit("n"))])
    out = downsample(frame, buckets=1, method="lttb")
    assert out.group_by("name").len().sort("name").rows() == [("m", 2), ("n", 2)]


def test_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match="exactly one"):
        downsample(_frame([1.0]))
    with pytest.raises(InvalidArgumentError, match="method"):
        downsample(_frame([1.0]), every=1, method="avg")  # type: ignore[arg-type]
