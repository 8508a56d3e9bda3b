"""``export``: what is written reads back as the points and params that were logged."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from postprocess_fixtures import StubModelRun

import ferrotrack.core as ft
from ferrotrack.core.params import flatten
from ferrotrack.postprocess.export import ExportPostprocessor, read_params, read_points

# what the store takes (any non-empty text without NUL), and what CSV must quote
NAMES = st.sampled_from(
    ["loss", "a,b", '"q"', "it's", " sp ", "x\ny", "c\r\nd", "é/ü", "null", "NaN", "#1", "="]
) | st.text(
    st.characters(blacklist_characters="\0", blacklist_categories=["Cs"]), min_size=1, max_size=8
)
POINTS = st.lists(
    st.tuples(
        st.sampled_from([0, 1]),
        NAMES,
        st.integers(min_value=-(2**40), max_value=2**40),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    min_size=0,
    max_size=60,
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
KEYS = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True)
PARAMS = st.dictionaries(
    KEYS, SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(KEYS, SCALARS, max_size=3),
    max_size=5,
)  # fmt: skip


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(points=POINTS, params=PARAMS)
def test_points_and_params_round_trip(
    root: Path,
    tmp_path: Path,
    fmt: str,
    points: list[tuple[int, str, int, float]],
    params: dict[str, Any],
) -> None:
    """Rank 0 (the run) and rank 1 (a child attached to its folder) log points, often under
    the same names; each comes back, per rank in logged order, with its rank."""
    with ft.start_run("roundtrip", experiment="hyp", params=params) as run:
        child = ft.attach_run(run.run_dir, rank=1)
        writers = {0: run, 1: child}
        for rank, name, step, value in points:
            writers[rank].log(name, value, step)
        child.finish()
    model = StubModelRun(f"m-{run.run_id}", tmp_path / "out", run)
    result = ExportPostprocessor().process(model, format=fmt)
    assert result["success"] is True, result
    assert result["rows"] == {"points": len(points), "params": len(flatten(run.params))}

    back = read_points(result["files"]["points"])
    assert back.columns == ["run_id", "rank", "name", "step", "value", "timestamp"]
    assert set(back["run_id"]) <= {run.run_id}
    got = list(zip(back["rank"], back["name"], back["step"], back["value"], strict=True))
    logged = sorted(points, key=lambda p: p[0])  # per rank, in logged order (a stable sort)
    assert len(got) == len(logged)
    for (rank, name, step, value), (r, n, s, v) in zip(logged, got, strict=True):
        assert (r, n, s) == (rank, name, step)
        assert _same_float(v, value)
    stored = ft.metrics(runs=[run.run_id]).collect()
    assert back["timestamp"].to_list() == stored["timestamp"].to_list()

    written = read_params(result["files"]["params"])
    exported = {k: json.loads(v) for k, v in zip(written["key"], written["value"], strict=True)}
    assert exported == flatten(run.params)
