"""The ``mlflow`` backend against a real ``mlflow server`` (SQLite store) started for this
module: what a run becomes in MLflow, every point once (read back with
``MlflowClient.get_metric_history``), the same MLflow run on a resume and a sync."""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, str(HERE))

from mlflow_server import MlflowServer, mlflow_server_fixture  # noqa: E402, F401

import ferrotrack.core as ft  # noqa: E402

pytestmark = pytest.mark.slow

URI_VAR = "FERROTRACK_BACKEND_CONFIGS__MLFLOW__TRACKING_URI"


@pytest.fixture
def uri(root: Path, mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's URI, set as the backend's ``tracking_uri`` for runs of this test."""
    monkeypatch.setenv(URI_VAR, mlflow_server.uri)
    return mlflow_server.uri


@pytest.fixture
def client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(uri)


def state(run_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((run_dir / "sync" / "mlflow" / "state.json").read_text())
    return doc


def mlflow_id(run_dir: Path) -> str:
    found: str = state(run_dir)["state"]["run_id"]
    return found


def history(client: Any, run_id: str, key: str) -> list[tuple[int, int, float]]:
    """``(step, timestamp ms, value)`` of every point MLflow holds, in MLflow's order."""
    return [(m.step, m.timestamp, m.value) for m in client.get_metric_history(run_id, key)]


def stored(run_id: str, name: str) -> list[tuple[int, int, float]]:
    """``(step, timestamp ms, value)`` of the store's points of ``name``."""
    import polars as pl

    frame = (
        ft.metrics(runs=run_id)
        .filter(pl.col("name").cast(pl.String) == name)
        .sort("step")
        .collect()
    )
    stamps = frame["timestamp"].dt.epoch("ns").to_list()
    return [
        (s, t // 1_000_000, v)
        for s, t, v in zip(frame["step"].to_list(), stamps, frame["value"].to_list(), strict=True)
    ]


def assert_once(client: Any, run_id: str, key: str, expected: list[tuple[int, int, float]]) -> None:
    got = history(client, run_id, key)
    dupes = [k for k, n in Counter(s for s, _, _ in got).items() if n > 1]
    assert not dupes, f"{key}: steps sent twice: {dupes[:10]}"
    assert sorted(got) == sorted(expected)


def cli(*args: str) -> Any:
    from ferrotrack.core.cli.app import build

    return CliRunner().invoke(build(), list(args), catch_exceptions=False)


def test_a_run_becomes_one_mlflow_run_with_everything(
    uri: str, client: Any, root: Path, tmp_path: Path
) -> None:
    model = tmp_path / "model.txt"
    model.write_text("weights")
    folder = tmp_path / "plots"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    with ft.start_run(
        experiment="mirror",
        name="whole",
        params={"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 3},
        tags={"team": "a", "gone": "soon"},
        backends=["mlflow"],
    ) as run:
        for step in range(2600):  # > 1000 points per name: several log_batch requests
            run.log({"loss": 1.0 / (step + 1), "acc": step / 2600}, step=step)
        run.log_event("checkpoint", name="ckpt-1")
        run.log_params({"sched": {"warmup": 10}})
        run.set_tags({"gone": None, "stage": "b"})
        run.log_artifact(model)
        run.log_artifact(folder)
        run.log_artifact(model, name="nested/renamed.txt")
    got = client.get_run(mlflow_id(run.run_dir))
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "whole"
    meta = json.loads((run.run_dir / "run.json").read_text())
    assert got.info.start_time == meta["started"] // 1_000_000
    assert got.info.end_time == meta["ended"] // 1_000_000
    assert client.get_experiment(got.info.experiment_id).name == "mirror"
    assert got.data.params == {
        "optim.lr": "0.1",
        "optim.betas": "[0.9, 0.99]",
        "seed": "3",
        "sched.warmup": "10",
    }
    tags = got.data.tags
    assert tags["team"] == "a"
    assert tags["stage"] == "b"
    assert "gone" not in tags, "a deleted tag is deleted in MLflow"
    assert tags["ferrotrack.run_id"] == run.run_id
    assert tags["ferrotrack.rows.0"] == "5200"
    for key in ("loss", "acc"):
        assert_once(client, got.info.run_id, key, stored(run.run_id, key))
    names = {a.path for a in client.list_artifacts(got.info.run_id)}
    assert {"model.txt", "plots", "nested", "ferrotrack"} <= names
    assert [a.path for a in client.list_artifacts(got.info.run_id, "nested")] == [
        "nested/renamed.txt"
    ]
    events = Path(client.download_artifacts(got.info.run_id, "ferrotrack/events/rank-0.jsonl"))
    assert json.loads(events.read_text().splitlines()[0])["name"] == "ckpt-1"
    found = client.search_runs([got.info.experiment_id], "tags.`ferrotrack.run_id` != ''")
    assert [r.info.run_id for r in found] == [got.info.run_id], "one MLflow run"


def test_a_child_run_names_its_parent(uri: str, client: Any) -> None:
    with ft.start_run(experiment="family", backends=["mlflow"]) as parent:
        parent.log("x", 1.0, step=0)
        with ft.start_run(experiment="family", parent=parent, backends=["mlflow"]) as child:
            child.log("x", 2.0, step=0)
    theirs = client.get_run(mlflow_id(child.run_dir))
    assert theirs.data.tags["mlflow.parentRunId"] == mlflow_id(parent.run_dir)
    assert theirs.data.tags["ferrotrack.parent"] == parent.run_id


def test_failed_status_and_nan_and_infinity(uri: str, client: Any) -> None:
    run = ft.start_run(experiment="odd", backends=["mlflow"])
    run.log("v", float("nan"), step=0)
    run.log("v", float("inf"), step=1)
    run.log("v", -1.5, step=2)
    run.finish("failed")
    got = client.get_run(mlflow_id(run.run_dir))
    assert got.info.status == "FAILED"
    points = {s: v for s, _, v in history(client, got.info.run_id, "v")}
    assert math.isnan(points[0])
    assert points[1] == sys.float_info.max, "MLflow stores +inf as the largest float"
    assert points[2] == -1.5


def test_resume_and_sync_find_the_same_mlflow_run(
    uri: str, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with ft.start_run(experiment="again", params={"lr": 0.1}, backends=["mlflow"]) as run:
        for step in range(300):
            run.log("loss", float(step), step=step)
    first = mlflow_id(run.run_dir)
    with (
        caplog.at_level(logging.WARNING, logger="ferrotrack.backends.mlflow"),
        ft.start_run(
            experiment="again",
            run_id=run.run_id,
            resume=True,
            params={"lr": 0.2},
            backends=["mlflow"],
        ) as again,
    ):
        for step in range(300, 600):
            again.log("loss", float(step), step=step)
        again.log_params({"lr": 0.3})
    assert mlflow_id(run.run_dir) == first
    changed = [r.getMessage() for r in caplog.records if "changed" in r.getMessage()]
    assert len(changed) == 1, changed
    assert "'lr'" in changed[0]
    assert run.run_id in changed[0]
    assert "new key" in changed[0]
    got = client.get_run(first)
    assert got.data.params["lr"] == "0.1", "MLflow keeps the first value"
    assert got.info.status == "FINISHED"
    result = cli("sync", run.run_id, "--backend", "mlflow")
    assert result.exit_code == 0, result.output
    assert ", 0 sent" in result.output
    assert_once(client, first, "loss", stored(run.run_id, "loss"))
    experiment = got.info.experiment_id
    assert len(client.search_runs([experiment])) == 1


def test_sync_of_a_run_logged_without_the_backend(uri: str, client: Any) -> None:
    with ft.start_run(experiment="later", params={"a": {"b": 1}}, tags={"t": "1"}) as run:
        for step in range(1500):
            run.log("x", float(step), step=step)
    first = cli("sync", run.run_id, "--backend", "mlflow")
    assert first.exit_code == 0, first.output
    assert "1500 sent" in first.output
    second = cli("sync", run.run_id, "--backend", "mlflow")
    assert second.exit_code == 0, second.output
    assert ", 0 sent" in second.output
    got = client.get_run(mlflow_id(run.run_dir))
    assert got.info.status == "FINISHED"
    assert got.data.params == {"a.b": "1"}
    assert got.data.tags["t"] == "1"
    assert_once(client, got.info.run_id, "x", stored(run.run_id, "x"))
    assert len(client.search_runs([got.info.experiment_id])) == 1


def test_a_lost_state_finds_the_mlflow_run_by_its_tag(uri: str, client: Any) -> None:
    with ft.start_run(experiment="lost", backends=["mlflow"]) as run:
        for step in range(700):
            run.log("x", float(step), step=step)
    first = mlflow_id(run.run_dir)
    shutil.rmtree(run.run_dir / "sync" / "mlflow")
    result = cli("sync", run.run_id, "--backend", "mlflow")
    assert result.exit_code == 0, result.output
    assert mlflow_id(run.run_dir) == first
    assert "0 sent" in result.output, "the ferrotrack.rows.0 tag says MLflow has them all"
    assert_once(client, first, "x", stored(run.run_id, "x"))


def test_a_metric_name_mlflow_refuses_is_named_once_and_kept(
    uri: str, client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="names", backends=["mlflow"]) as run,
    ):
        for step in range(50):
            run.log({"ok": float(step), "bad,name": 1.0}, step=step)
    got = client.get_run(mlflow_id(run.run_dir))
    assert set(got.data.metrics) == {"ok"}
    assert len(history(client, got.info.run_id, "ok")) == 50
    warned = [r.getMessage() for r in caplog.records if "'bad,name'" in r.getMessage()]
    assert len(warned) == 1, warned
    assert "backend 'mlflow'" in warned[0]
    assert run.run_id in warned[0]
    assert "routing.mlflow.exclude" in warned[0]
    assert ft.metrics(runs=run.run_id).collect().height == 100, "the store keeps every point"


def test_a_path_that_is_no_mlflow_server_is_a_clear_error(
    mlflow_server: MlflowServer, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URI_VAR, f"{mlflow_server.uri}/not-mlflow")
    with ft.start_run(experiment="wrong", backends=["mlflow"]) as run:
        run.log("x", 1.0, step=0)
    result = cli("runs", "show", run.run_id, "--json")
    health = json.loads(result.output)["backends"]["mlflow"]
    assert health["state"] == "degraded"
    assert "does not answer as an MLflow tracking server" in health["error"]
    assert "tracking_uri" in health["error"]


_MLFLOW_VARS = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
)
"""Variables the backend sets while it runs: unset for each test, whatever it leaves."""


@pytest.fixture(autouse=True)
def _no_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow's own variables from the environment must not redirect these tests, and
    what a test sets is undone after it."""
    for name in ("MLFLOW_TRACKING_URI", *_MLFLOW_VARS):
        monkeypatch.delenv(name, raising=False)


def test_the_mlflow_variables_are_given_back_on_stop(
    uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable someone set is kept unless the config names it; the config's wins while
    the backend runs; on stop each variable is as before (unset ones unset again)."""
    import os

    from ferrotrack.backends.mlflow import MlflowBackend
    from ferrotrack.core.records import RunInfo

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "33")
    info = RunInfo("env", "e" * 32, "env", tmp_path, started=10**18)
    backend = MlflowBackend()
    backend.initialize({"tracking_uri": uri, "request_retries": 2})
    with backend:
        backend.open_run(info, {})
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "33", "not named: kept"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "2"
        assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "33"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT" not in os.environ
    named = MlflowBackend()
    named.initialize({"tracking_uri": uri, "request_timeout": 7})
    with named:
        named.open_run(info, {})
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7", "named: the config's"
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "33"
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ


@pytest.mark.slow
def test_without_a_tracking_uri_a_sync_from_another_folder_reaches_the_same_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow's default ``sqlite:///mlflow.db`` is in the working directory: the first
    opening keeps it absolute in the state, a later one from elsewhere uses it."""
    from ferrotrack.backends.mlflow import MlflowBackend
    from ferrotrack.core.records import RunInfo

    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    info = RunInfo("cwd", "c" * 32, "cwd", tmp_path, started=10**18)
    kept: dict[str, Any] = {}
    monkeypatch.chdir(first)
    backend = MlflowBackend()
    backend.initialize({})
    with backend:
        backend.open_run(info, kept)
    assert kept["tracking_uri"] == f"sqlite:///{first / 'mlflow.db'}"
    monkeypatch.chdir(elsewhere)
    again = MlflowBackend()
    again.initialize({})
    with again:
        again.open_run(info, dict(kept))
        assert again.tracking_uri == kept["tracking_uri"]
        assert again.mlflow_run_id == kept["run_id"]
    assert not (elsewhere / "mlflow.db").exists()


def test_a_relative_default_store_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferrotrack.backends.mlflow.backend import _absolute, _default_uri

    monkeypatch.chdir(tmp_path)
    assert _absolute("sqlite:///mlflow.db") == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert _absolute("sqlite:///db/m.db?timeout=5") == f"sqlite:///{tmp_path / 'db/m.db'}?timeout=5"
    assert _absolute("sqlite:////abs/m.db") == "sqlite:////abs/m.db"
    assert _absolute("mlruns") == (tmp_path / "mlruns").as_uri()
    assert _absolute("file:mlruns") == (tmp_path / "mlruns").as_uri()
    assert _absolute("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    kept = {"tracking_uri": "http://h:1"}
    assert _default_uri("sqlite:///x.db", kept) == "http://h:1", "the state's wins"
    assert _default_uri("http://u:pw@h:1", kept) == "http://u:pw@h:1", "its password kept"


def test_the_position_is_recorded_and_a_retry_of_what_mlflow_holds_is_skipped(
    uri: str, client: Any, tmp_path: Path
) -> None:
    from ferrotrack.backends.mlflow import MlflowBackend
    from ferrotrack.core.plugins.arrow import metrics_to_batch
    from ferrotrack.core.plugins.metric import MetricData, MetricType
    from ferrotrack.core.records import RunInfo

    info = RunInfo(
        experiment="direct", run_id="f" * 32, name="direct", run_dir=tmp_path, started=10**18
    )

    def batch(shift: float) -> Any:
        return metrics_to_batch(
            MetricData("y", i + shift, MetricType.SCALAR, i, 10**18 + i * 10**6)
            for i in range(1000)
        )

    kept: dict[str, Any] = {}
    backend = MlflowBackend()
    backend.initialize({"tracking_uri": uri})
    with backend:
        backend.open_run(info, kept)
        assert backend.remote_rows() == {}
        backend.handle_rows(batch(0.0), 0, 0, 1000)  # a full last request: position after it
    assert client.get_run(kept["run_id"]).data.tags["ferrotrack.rows.0"] == "1000"
    again = MlflowBackend()
    again.initialize({"tracking_uri": uri})
    with again:
        again.open_run(info, dict(kept))
        assert again.mlflow_run_id == kept["run_id"]
        assert again.remote_rows() == {0: 1000}, "a new process learns where MLflow is"
        again.handle_rows(batch(0.5), 0, 0, 1000)  # rows MLflow holds: not sent again
    assert [v for _, _, v in history(client, kept["run_id"], "y")] == [
        float(i) for i in range(1000)
    ]


@given(total=st.integers(0, 5000), size=st.integers(1, 1000), position=st.booleans())
def test_requests_stay_within_mlflow_limits_and_the_position_comes_last(
    total: int, size: int, position: bool
) -> None:
    from ferrotrack.backends.mlflow.convert import MAX_ENTITIES, request_plan

    plan = request_plan(total, size, position)
    assert [i for a, b, _ in plan for i in range(a, b)] == list(range(total)), "each point once"
    for a, b, last in plan:
        assert b - a <= size
        assert b - a + last <= MAX_ENTITIES
    flags = [last for _, _, last in plan]
    if position:
        assert flags[-1]
        assert not any(flags[:-1])
    else:
        assert not any(flags)
