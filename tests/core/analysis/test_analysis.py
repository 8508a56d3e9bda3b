"""runs(), metrics(), final_values(), best_run(), wide() against stores written for real."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core.analysis as fa
from ferrotrack.core.errors import RunNotFoundError

if TYPE_CHECKING:
    from tests.core.conftest import MakeRun, Point

names = st.sampled_from(["loss", "acc", "train/loss", "val acc é"])
values = st.floats(allow_nan=False, width=64)
steps = st.one_of(st.none(), st.integers(-5, 50))
point_lists = st.lists(st.tuples(names, values, steps), min_size=1, max_size=60)


@given(points=point_lists, flushes=st.integers(1, 5))
def test_every_point_reads_back_once(
    make_run: MakeRun, store: Path, points: list[Point], flushes: int
) -> None:
    shutil.rmtree(store)
    store.mkdir()
    folder = make_run(points, flushes=flushes)
    got = fa.metrics(store).collect()
    assert got.height == len(points)
    assert got.get_column("run_id").cast(str).unique().to_list() == [folder.name[4:]]
    assert got.get_column("name").cast(str).to_list() == [p[0] for p in points]
    assert got.get_column("value").to_list() == [p[1] for p in points]
    auto: dict[str, int] = {}
    expected_steps: list[int] = []
    for name, _, step in points:
        s = step if step is not None else auto.get(name, -1) + 1
        auto[name] = s
        expected_steps.append(s)
    assert got.get_column("step").to_list() == expected_steps


def test_metrics_filters_by_experiment_run_and_name(make_run: MakeRun, store: Path) -> None:
    a = make_run([("x", 1.0, 0), ("y", 2.0, 0)], experiment="a b%20c")
    make_run([("x", 3.0, 0)], experiment="b")
    got = fa.metrics(store, experiment="a b%20c", names=["x"]).collect()
    assert got.rows() == [("a b%20c", a.name[4:], 0, "x", 0, got["timestamp"][0], 1.0)]
    by_run = fa.metrics(store, runs=[a.name[4:28]]).collect()
    assert by_run.height == 2
    assert fa.metrics(store, experiment="none").collect().height == 0


def test_ranks_come_from_file_names(make_run: MakeRun, store: Path) -> None:
    folder = make_run([("x", 1.0, 0)])
    make_run([("x", 2.0, 0)], rank=3, run_id=folder.name[4:])
    got = fa.metrics(store).collect().sort("rank")
    assert got.get_column("rank").to_list() == [0, 3]


def test_runs_table(make_run: MakeRun, store: Path) -> None:
    make_run(
        [("loss", 3.0, 0), ("loss", 1.0, 1), ("loss", 2.0, 2)],
        params={"lr": 0.1, "optim": {"name": "adam"}},
        tags={"team": "a"},
        name="one",
    )
    make_run([("acc", 0.5, 0)], params={"lr": 1, "layers": [1, 2]}, status="failed")
    table = fa.runs(store).sort("name")
    assert table.height == 2
    one = table.filter(pl.col("name") == "one").row(0, named=True)
    assert (one["loss.last"], one["loss.min"], one["loss.max"]) == (2.0, 1.0, 3.0)
    assert one["params.lr"] == 0.1
    assert one["params.optim.name"] == "adam"
    assert one["tags"] == {"team": "a"}
    assert one["acc.last"] is None
    assert one["duration"].total_seconds() == 1.0
    assert table.schema["started"] == pl.Datetime("ns", "UTC")
    assert fa.runs(store, status="failed").height == 1
    assert fa.runs(store / "missing").height == 0
    assert one["trial"] is None
    assert one["repeat"] is None


def test_runs_table_trial_and_repeat_columns(make_run: MakeRun, store: Path) -> None:
    make_run([("x", 1.0, 0)], tags={"ferrotrack.trial": "wide", "ferrotrack.repeat": "2"})
    make_run([("x", 1.0, 0)], tags={"ferrotrack.trial": "narrow", "ferrotrack.repeat": "x"})
    table = fa.runs(store).sort("trial")
    assert table.select("trial", "repeat").rows() == [("narrow", None), ("wide", 2)]
    assert table.schema["repeat"] == pl.Int64


def test_final_values_and_best_run(make_run: MakeRun, store: Path) -> None:
    r1 = make_run([("loss", 5.0, 0), ("loss", 0.5, 1), ("loss", 4.0, 2)])
    r2 = make_run([("loss", 2.0, 0), ("loss", 1.0, 1)])
    final = fa.final_values("loss", store).sort("value")
    assert final.select("run_id", "value", "step").rows() == [
        (r2.name[4:], 1.0, 1),
        (r1.name[4:], 4.0, 2),
    ]
    assert fa.best_run("loss", store)["run_id"][0] == r1.name[4:]
    assert fa.best_run("loss", store, by="last")["run_id"][0] == r2.name[4:]
    assert fa.best_run("loss", store, mode="max")["run_id"][0] == r1.name[4:]
    with pytest.raises(RunNotFoundError):
        fa.best_run("nope", store)


def test_wide_takes_last_logged_point_of_a_step(make_run: MakeRun, store: Path) -> None:
    a = make_run([("x", 1.0, 0), ("x", 2.0, 1), ("x", 9.0, 0)], flushes=3)
    b = make_run([("x", 5.0, 1)])
    ids = [a.name[4:], b.name[4:]]
    table = fa.wide(ids, "x", store)
    assert table.columns == ["step", f"{ids[0]}:x", f"{ids[1]}:x"]
    assert table.rows() == [(0, 9.0, None), (1, 2.0, 5.0)]


def test_runs_frame_selects_runs(make_run: MakeRun, store: Path) -> None:
    make_run([("x", 1.0, 0)], name="keep")
    make_run([("x", 2.0, 0)], name="drop")
    chosen = fa.runs(store).filter(pl.col("name") == "keep")
    got = fa.metrics(store, runs=chosen).collect()
    assert got.get_column("value").to_list() == [1.0]
    assert not math.isnan(got["value"][0])
