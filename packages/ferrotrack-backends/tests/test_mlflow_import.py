"""``ferrotrack import mlflow`` on runs MLflow's own client wrote (into a SQLite tracking
store, the same store a server uses): params, tags, status, times, parents and every
point come in; importing twice changes nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.backends.mlflow.importer import _param_value, read_runs, source_of

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """A tracking store with an experiment of three runs (a parent, a child, a failed
    one) written by ``MlflowClient``; returns its URI and what was written."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow-import') / 'mlflow.db'}"
    client = MlflowClient(uri)
    eid = client.create_experiment("imported")
    t0 = 1_700_000_000_000
    parent = client.create_run(eid, start_time=t0, run_name="parent", tags={"team": "a"})
    pid = parent.info.run_id
    metrics = [Metric("loss", 1.0 / (i + 1), t0 + i, i) for i in range(2500)]
    metrics += [Metric("acc", float("nan") if i == 3 else i / 10, t0 + i, i) for i in range(10)]
    client.log_batch(pid, metrics=metrics, params=[Param("lr", "0.1"), Param("opt", "adam")])
    client.log_batch(pid, params=[Param("layers", "3"), Param("flag", "True")])
    client.set_terminated(pid, "FINISHED", end_time=t0 + 9000)
    child = client.create_run(
        eid, start_time=t0 + 10, run_name="child", tags={"mlflow.parentRunId": pid}
    )
    client.log_batch(child.info.run_id, metrics=[Metric("x", 2.0, t0 + 11, 5)])
    client.set_terminated(child.info.run_id, "FAILED", end_time=t0 + 20)
    alive = client.create_run(eid, start_time=t0 + 30, run_name="alive")
    client.set_tag(alive.info.run_id, "note", "still running")
    return uri, {"parent": pid, "child": child.info.run_id, "alive": alive.info.run_id}


def import_cli(uri: str) -> Any:
    from ferrotrack.core.cli.app import build

    return CliRunner().invoke(
        build(), ["import", "mlflow", "--tracking-uri", uri, "--experiment", "imported"]
    )


def test_read_runs_puts_parents_first_with_every_fact(written: tuple[str, dict[str, Any]]) -> None:
    uri, ids = written
    runs = {r.name: r for r in read_runs(uri, experiment="imported")}
    order = [r.name for r in read_runs(uri)]
    assert order.index("parent") < order.index("child")
    parent, child, alive = runs["parent"], runs["child"], runs["alive"]
    assert parent.source == source_of(uri, ids["parent"])
    assert parent.params == {"lr": 0.1, "opt": "adam", "layers": 3, "flag": True}
    assert parent.tags["team"] == "a"
    assert "mlflow.runName" not in parent.tags
    assert parent.status == "finished"
    assert parent.started == 1_700_000_000_000 * 1_000_000
    assert parent.ended == (1_700_000_000_000 + 9000) * 1_000_000
    points = parent.points.to_pylist()
    loss = [p for p in points if p["name"] == "loss"]
    assert [p["step"] for p in loss] == list(range(2500))
    assert loss[7]["timestamp"] == (1_700_000_000_000 + 7) * 1_000_000
    acc = {p["step"]: p["value"] for p in points if p["name"] == "acc"}
    assert math.isnan(acc[3])
    assert child.parent_source == parent.source
    assert child.status == "failed"
    assert alive.status == "killed", "a run still running is imported as killed"
    assert alive.tags["note"] == "still running"


def test_import_brings_runs_in_and_twice_changes_nothing(
    written: tuple[str, dict[str, Any]], root: Path
) -> None:
    uri, _ = written
    root.mkdir()  # `ferrotrack import` wants an existing store folder
    first = import_cli(uri)
    assert first.exit_code == 0, first.output
    assert "imported 3 run(s) (2,511 points)" in first.output
    runs = {p.parent.name: json.loads(p.read_text()) for p in root.rglob("run.json")}
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    second = import_cli(uri)
    assert second.exit_code == 0, second.output
    assert "imported 0 run(s)" in second.output
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == before
    by_name = {meta["name"]: meta for meta in runs.values()}
    assert by_name["child"]["parent"] == by_name["parent"]["run_id"]
    assert by_name["parent"]["status"] == "finished"
    frame = ft.metrics(runs=by_name["parent"]["run_id"]).collect()
    assert frame.height == 2510
    params = json.loads(
        next(root.rglob(f"run={by_name['parent']['run_id']}/params.json")).read_text()
    )
    assert params == {"lr": 0.1, "opt": "adam", "layers": 3, "flag": True}


@given(st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.text()))
def test_a_param_comes_back_as_the_value_mlflow_got_the_text_of(value: Any) -> None:
    back = _param_value(str(value))
    if isinstance(value, str):
        assert str(back) == value, "text stays text, or is exactly str() of what it became"
    else:
        assert back == value
        assert type(back) is type(value)
