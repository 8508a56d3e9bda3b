"""Shipped processors against plain-Python references, across arbitrary batch splits."""

from __future__ import annotations

import itertools
from fnmatch import fnmatchcase

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins import (
    EveryNthProcessor,
    FilterProcessor,
    MetricData,
    RenameProcessor,
    TimeDownsampleProcessor,
)
from ferrotrack.core.plugins.arrow import batch_to_metrics, metrics_to_batch

Row = tuple[str, int, int, float]  # name, step, timestamp ns, value

rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b/x", "b/y", "c"]),
        st.integers(0, 10**6),
        st.integers(0, 10**4),
        st.floats(allow_nan=False),
    ),
    max_size=80,
).map(lambda rs: [(n, s, i * 10**8 + t, v) for i, (n, s, t, v) in enumerate(rs)])
cuts = st.lists(st.integers(0, 80), max_size=5)


def batches(data: list[Row], at: list[int]) -> list[pa.RecordBatch]:
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in at)})
    return [
        metrics_to_batch([MetricData(n, v, step=s, timestamp=t) for n, s, t, v in data[a:b]])
        for a, b in itertools.pairwise(bounds)
    ]


def run(processor: object, data: list[Row], at: list[int]) -> list[Row]:
    out: list[Row] = []
    for batch in batches(data, at):
        result = processor.process(batch)  # type: ignore[attr-defined]
        out += [
            (m.name, int(m.step or 0), int(m.timestamp or 0), float(m.value))
            for m in batch_to_metrics(result)
        ]
    return out


@given(data=rows, at=cuts, n=st.integers(1, 5))
def test_every_nth_matches_reference(data: list[Row], at: list[int], n: int) -> None:
    proc = EveryNthProcessor()
    proc.initialize({"n": n})
    seen: dict[str, int] = {}
    want = []
    for row in data:
        if seen.get(row[0], 0) % n == 0:
            want.append(row)
        seen[row[0]] = seen.get(row[0], 0) + 1
    assert run(proc, data, at) == want


@given(data=rows, at=cuts, interval=st.sampled_from([0.05, 0.3, 1.0]))
def test_time_downsample_keeps_first_point_per_window(
    data: list[Row], at: list[int], interval: float
) -> None:
    proc = TimeDownsampleProcessor()
    proc.initialize({"interval": interval})
    width = round(interval * 1e9)
    last: dict[str, int] = {}
    want = []
    for row in data:
        window = row[2] // width
        if last.get(row[0]) != window:
            want.append(row)
        last[row[0]] = window
    assert run(proc, data, at) == want


@given(
    data=rows,
    at=cuts,
    include=st.sampled_from([["*"], ["b/*"], ["a", "c"]]),
    exclude=st.sampled_from([[], ["*y"], ["b/*"]]),
)
def test_filter_matches_fnmatch(
    data: list[Row], at: list[int], include: list[str], exclude: list[str]
) -> None:
    proc = FilterProcessor()
    proc.initialize({"include": include, "exclude": exclude})
    want = [
        r
        for r in data
        if any(fnmatchcase(r[0], p) for p in include)
        and not any(fnmatchcase(r[0], p) for p in exclude)
    ]
    assert run(proc, data, at) == want


@given(data=rows, at=cuts)
def test_rename_then_prefix(data: list[Row], at: list[int]) -> None:
    proc = RenameProcessor()
    proc.initialize({"mapping": {"a": "b/x", "c": "renamed"}, "prefix": "p/"})
    mapping = {"a": "b/x", "c": "renamed"}
    want = [("p/" + mapping.get(n, n), s, t, v) for n, s, t, v in data]
    assert run(proc, data, at) == want


def test_processor_config_is_validated() -> None:
    with pytest.raises(InvalidArgumentError, match="n: Input should be greater than or equal"):
        EveryNthProcessor().initialize({"n": 0})
    with pytest.raises(InvalidArgumentError, match="Extra inputs"):
        FilterProcessor().initialize({"includes": ["a"]})
