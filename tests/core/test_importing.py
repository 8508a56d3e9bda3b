"""Imported runs: every point, param, tag, status and time kept; importing twice changes
nothing; an import cut short is redone; bad input gets a typed error."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.importing import ImportedRun, import_runs, imported_run_id

T0 = 1_700_000_000_000_000_000

names = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12
)
points_strategy = st.lists(
    st.tuples(
        names,
        st.integers(-(2**40), 2**40),
        st.integers(0, 2**62),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    min_size=0,
    max_size=60,
)


def table(points: list[tuple[str, int, int, float]]) -> pa.Table:
    cols: list[Sequence[Any]] = [[p[i] for p in points] for i in range(4)]
    return pa.table(
        {
            "name": pa.array(cols[0], pa.string()),
            "step": pa.array(cols[1], pa.int64()),
            "timestamp": pa.array(cols[2], pa.int64()),
            "value": pa.array(cols[3], pa.float64()),
        }
    )


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@given(points=points_strategy)
def test_every_point_comes_back_with_its_step_time_and_value(
    points: list[tuple[str, int, int, float]], root: Path
) -> None:
    source = f"test:{len(points)}:{hash(tuple(map(repr, points)))}"
    run = ImportedRun(source, "imp", "r", table(points), started=T0, ended=T0 + 1)
    [result] = import_runs([run])
    assert result.points == len(points)
    if not points:
        return
    got = ft.metrics(runs=[result.run_id], experiment="imp").collect()
    stamps = got["timestamp"].dt.epoch("ns")
    rows = list(zip(got["name"], got["step"], stamps, got["value"], strict=True))
    want = sorted(points, key=repr)
    assert len(rows) == len(want)
    by_key: dict[tuple[str, int, int], list[float]] = {}
    for n, s, t, v in want:
        by_key.setdefault((n, s, t), []).append(v)
    for n, s, t, v in rows:
        candidates = by_key[(n, s, t)]
        match = next(i for i, c in enumerate(candidates) if same(c, v))
        candidates.pop(match)


def test_params_tags_status_times_and_parent_are_kept(root: Path) -> None:
    parent = ImportedRun("tool:p", "imp", "parent", None, started=T0, ended=T0 + 5, tool="x")
    child = ImportedRun(
        "tool:c",
        "imp",
        "child",
        table([("loss", 1, T0 + 1, 0.5)]),
        params={"optim.lr": 0.1, "layers": [1, 2]},
        tags={"team": "a"},
        status="failed",
        started=T0 + 1,
        ended=T0 + 9,
        parent_source="tool:p",
        tool="x",
    )
    results = import_runs([parent, child])
    frame = ft.runs(experiment="imp").sort("name")
    row = frame.filter(frame["name"] == "child").to_dicts()[0]
    assert row["status"] == "failed"
    assert row["parent"] == results[0].run_id
    assert json.loads((results[1].run_dir / "params.json").read_text()) == {
        "optim": {"lr": 0.1},
        "layers": [1, 2],
    }
    meta = json.loads((results[1].run_dir / "run.json").read_text())
    assert (meta["started"], meta["ended"], meta["tags"]) == (T0 + 1, T0 + 9, {"team": "a"})
    assert meta["imported"]["source"] == "tool:c"


def test_importing_twice_changes_nothing(root: Path) -> None:
    run = ImportedRun("tool:twice", "imp", "r", table([("a", 0, T0, 1.0)]), started=T0)
    [first] = import_runs([run])
    before = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    [second] = import_runs([run])
    after = sorted((p.relative_to(root), p.stat().st_mtime_ns) for p in root.rglob("*"))
    assert (first.created, second.created) == (True, False)
    assert second.run_id == first.run_id
    assert second.points == 1
    assert before == after


def test_an_import_cut_short_is_done_again(root: Path) -> None:
    run = ImportedRun("tool:cut", "imp", "r", table([("a", 0, T0, 1.0)]), started=T0)
    [first] = import_runs([run])
    (first.run_dir / "run.json").unlink()  # as if killed before the last write
    [again] = import_runs([run])
    assert again.created
    assert again.run_id == first.run_id
    assert ft.metrics(experiment="imp").collect()["value"].to_list() == [1.0]


def test_ids_sort_by_start_and_differ_by_source() -> None:
    early, late = imported_run_id("s:a", T0), imported_run_id("s:a", T0 + 10**9)
    assert early < late
    assert len(early) == 32
    assert imported_run_id("s:a", T0) != imported_run_id("s:b", T0)
    assert imported_run_id("s:a", T0) == early


def test_bad_input_names_what_was_wrong(root: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="status 'running'"):
        import_runs([ImportedRun("s:x", "imp", "r", status="running")])
    bad = pa.table({"name": ["a"], "step": [0], "value": [1.0]})
    with pytest.raises(InvalidArgumentError, match=r"lack the columns \['timestamp'\]"):
        import_runs([ImportedRun("s:y", "imp", "r", bad)])
    with pytest.raises(InvalidArgumentError, match="experiment"):
        import_runs([ImportedRun("s:z", "a/b", "r")])


def test_a_source_imported_before_keeps_its_run_even_if_its_start_moves(root: Path) -> None:
    first = ImportedRun("tool:moved", "imp", "r", table([("a", 0, T0, 1.0)]), started=T0)
    [a] = import_runs([first])
    earlier = ImportedRun("tool:moved", "imp", "r", table([("a", 0, T0, 1.0)]), started=T0 - 10**12)
    [b] = import_runs([earlier])
    assert (b.run_id, b.created) == (a.run_id, False)
    assert ft.runs(experiment="imp").height == 1


def test_null_names_are_refused(root: Path) -> None:
    bad = pa.table(
        {
            "name": pa.array([None], pa.string()),
            "step": pa.array([0], pa.int64()),
            "timestamp": pa.array([T0], pa.int64()),
            "value": pa.array([1.0]),
        }
    )
    with pytest.raises(InvalidArgumentError, match="'name' has 1 nulls"):
        import_runs([ImportedRun("s:null", "imp", "r", bad)])
