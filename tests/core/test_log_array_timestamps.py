"""``log_array(..., timestamps=)``: each point keeps the time given (an import keeps the
source's times), and a bad timestamps argument is refused before anything is logged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError

NS = st.integers(min_value=0, max_value=2**62)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(allow_nan=True), NS), min_size=1, max_size=300))
def test_timestamps_are_kept_per_point(
    tmp_path_factory: pytest.TempPathFactory, points: list[tuple[float, int]]
) -> None:
    root = tmp_path_factory.mktemp("store")
    values = np.array([v for v, _ in points], dtype=np.float64)
    stamps = np.array([t for _, t in points], dtype=np.int64)
    with ft.start_run("r", experiment="e", root=root) as run:
        run.log_array("m", values, steps=np.arange(len(values)) * 2, timestamps=stamps)
        run.log_array("plain", values[:1])
    frame = ft.metrics(root, experiment="e").collect().sort("name", "step")
    back = frame.filter(pl.col("name").cast(pl.String) == "m")
    assert back["timestamp"].cast(pl.Int64).to_list() == stamps.tolist()
    assert back["step"].to_list() == list(range(0, 2 * len(values), 2))
    assert np.array_equal(back["value"].to_numpy(), values, equal_nan=True)
    # Without timestamps= the point gets the time of the call, as before.
    plain = frame.filter(pl.col("name").cast(pl.String) == "plain")
    assert plain["timestamp"].cast(pl.Int64).to_list()[0] > 1_600_000_000 * 10**9


def test_timestamps_accept_lists_and_int_buffers(tmp_path: Path) -> None:
    with ft.start_run("r", experiment="e", root=tmp_path) as run:
        run.log_array("a", [1.0, 2.0], timestamps=[10, 20])
        run.log_array("b", [3.0], timestamps=np.array([30], dtype=np.int32))
    frame = ft.metrics(tmp_path, experiment="e").collect().sort("name", "step")
    assert frame["timestamp"].cast(pl.Int64).to_list() == [10, 20, 30]


@pytest.mark.parametrize(
    ("timestamps", "message"),
    [
        ([1, 2, 3], "values and timestamps must have the same length, got 2 and 3"),
        (np.array([1], dtype=np.int64), "values and timestamps must have the same length"),
        (["a", "b"], "timestamps (int64 ns since the epoch): item 0 is a str"),
        ([1.5, 2.5], "timestamps (int64 ns since the epoch): item 0 is a float"),
        ([2**63, 1], "out of the int64 range"),
        ("12", "expected a numeric array, got str/bytes"),
    ],
)
def test_bad_timestamps_are_refused_and_log_nothing(
    tmp_path: Path, timestamps: object, message: str
) -> None:
    with ft.start_run("r", experiment="e", root=tmp_path) as run:
        with pytest.raises(InvalidArgumentError) as err:
            run.log_array("m", [1.0, 2.0], timestamps=timestamps)
        assert message in str(err.value)
        assert "log_array('m')" in str(err.value)
    assert ft.metrics(tmp_path, experiment="e").collect().height == 0
