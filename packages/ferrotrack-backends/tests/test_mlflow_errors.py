"""Bad settings of the ``mlflow`` backend, no server needed: a refused connection fails
fast with a message naming the backend, the run and what to do, logged once; the password
(in the URI or in the config) is in no message, no file, no output; the store keeps all."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, str(HERE))

from mlflow_server import free_port  # noqa: E402

import ferrotrack.core as ft  # noqa: E402

SECRET = "s3cret-Pa55word"
PREFIX = "FERROTRACK_BACKEND_CONFIGS__MLFLOW__"


@pytest.fixture(autouse=True)
def _fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
    ):  # none from outside, and none this test's backend sets leaks out of it
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "3")


@pytest.mark.parametrize("where", ["uri", "config"])
def test_a_refused_connection_fails_fast_names_what_to_do_and_no_password(
    where: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    if where == "uri":
        monkeypatch.setenv(f"{PREFIX}TRACKING_URI", f"http://alice:{SECRET}@127.0.0.1:{port}")
    else:
        monkeypatch.setenv(f"{PREFIX}TRACKING_URI", f"http://127.0.0.1:{port}")
        monkeypatch.setenv(f"{PREFIX}USERNAME", "alice")
        monkeypatch.setenv(f"{PREFIX}PASSWORD", SECRET)
    began = time.monotonic()
    with (
        caplog.at_level(logging.DEBUG),
        ft.start_run(experiment="down", backends=["mlflow"]) as run,
    ):
        for step in range(200):
            run.log("x", float(step), step=step)
    assert time.monotonic() - began < 20, "a refused connection fails fast"
    records = [r.getMessage() for r in caplog.records]
    degraded = [m for m in records if "degraded" in m and "'mlflow'" in m]
    assert len(degraded) == 1, degraded
    assert run.run_id in degraded[0]
    assert f"127.0.0.1:{port}" in degraded[0]
    assert f"ferrotrack sync {run.run_id} --backend mlflow" in degraded[0]
    shown = CliRunner().invoke(_cli(), ["runs", "show", run.run_id, "--json"])
    health = json.loads(shown.output)["backends"]["mlflow"]
    assert health["state"] == "degraded"
    out, err = capfd.readouterr()
    files = "".join(p.read_text() for p in run.run_dir.rglob("*.json"))
    for text in [*records, shown.output, out, err, files]:
        assert SECRET not in text
    assert ft.metrics(runs=run.run_id).collect().height == 200, "the store keeps every point"


def test_a_tracking_uri_mlflow_cannot_use_is_refused_at_once(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(f"{PREFIX}TRACKING_URI", f"nosuchscheme://bob:{SECRET}@somewhere")
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="bad", backends=["mlflow"]) as run,
    ):
        run.log("x", 1.0, step=0)
    messages = [r.getMessage() for r in caplog.records if "'mlflow'" in r.getMessage()]
    assert len(messages) == 1, messages
    assert "tracking_uri" in messages[0]
    assert run.run_id in messages[0]
    assert SECRET not in messages[0]
    assert ft.metrics(runs=run.run_id).collect().height == 1


def test_a_password_is_never_in_the_config_dump() -> None:
    from ferrotrack.backends.mlflow import MlflowConfig
    from ferrotrack.backends.mlflow.errors import Scrubber, public_uri

    config = MlflowConfig.model_validate({"password": SECRET, "tracking_uri": "http://h:1"})
    assert SECRET not in repr(config)
    assert SECRET not in json.dumps(config.model_dump(mode="json"))
    assert public_uri(f"https://u:{SECRET}@host:8443/path?q=1") == "https://host:8443/path?q=1"
    text = f"API request to http://u:{SECRET}@127.0.0.1:5/api failed"
    assert Scrubber([])(text) == "API request to http://127.0.0.1:5/api failed"


def _cli() -> Any:
    from ferrotrack.core.cli.app import build

    return build()


def test_without_mlflow_installed_the_error_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferrotrack.backends.mlflow import MlflowBackend
    from ferrotrack.core.errors import MissingDependencyError
    from ferrotrack.core.records import RunInfo

    monkeypatch.setitem(sys.modules, "mlflow", None)  # what an absent package looks like
    backend = MlflowBackend()
    backend.initialize({})
    info = RunInfo(experiment="e", run_id="0" * 32, name="n", run_dir=tmp_path, started=1)
    with pytest.raises(MissingDependencyError, match=r"pip install ferrotrack-backends\[mlflow\]"):
        backend.open_run(info, {})
