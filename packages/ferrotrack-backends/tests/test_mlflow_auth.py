"""Wrong credentials against a real ``mlflow server --app-name basic-auth`` (HTTP 401):
the loop logs every point, the store keeps them all, the backend ends degraded with one
warning naming the backend, the run and what to do, and the password is in no message,
no log record and no file; with the right credentials ``ferrotrack sync`` fills the
MLflow run exactly once."""

from __future__ import annotations

import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, str(HERE))

from mlflow_server import MlflowServer  # noqa: E402

import ferrotrack.core as ft  # noqa: E402

pytestmark = pytest.mark.slow

ADMIN = "admin"
ADMIN_PASSWORD = "Adm1n-Right-Passw0rd-for-tests"
WRONG = "Wr0ng-Pa55word-xyzzy-4711"
URI_VAR = "FERROTRACK_BACKEND_CONFIGS__MLFLOW__TRACKING_URI"
POINTS = 300


class AuthMlflowServer(MlflowServer):
    """The project's server helper with MLflow's basic-auth app in front of it."""

    def command(self) -> list[str]:
        return [*super().command(), "--app-name", "basic-auth"]


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthMlflowServer]:
    """One basic-auth server for the module; its user database lives in the tmp folder
    (``MLFLOW_AUTH_CONFIG_PATH``), its admin password is set for the first start."""
    folder = tmp_path_factory.mktemp("mlflow-auth-server")
    config = folder / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{folder / 'basic_auth.db'}\n"
        f"admin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    server = AuthMlflowServer(folder)
    with pytest.MonkeyPatch.context() as patch:  # only the server process sees these
        patch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(config))
        patch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", ADMIN_PASSWORD)
        patch.setenv("MLFLOW_FLASK_SERVER_SECRET_KEY", "ferrotrack-tests-csrf-key")
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            patch.delenv(name, raising=False)
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(
    root: Path, auth_server: AuthMlflowServer, monkeypatch: pytest.MonkeyPatch
) -> AuthMlflowServer:
    """The module's server as the backend's tracking URI, with the WRONG password in
    MLflow's own variables; delivery gives up quickly."""
    for name in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_TOKEN",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(URI_VAR, auth_server.uri)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", WRONG)
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.02")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "3")
    return auth_server


def cli(*args: str) -> Any:
    from ferrotrack.core.cli.app import build

    return CliRunner().invoke(build(), list(args), catch_exceptions=False)


def run_with_wrong_password() -> Any:
    """A run whose every point goes to the store while MLflow answers 401."""
    with ft.start_run(experiment="auth", backends=["mlflow"]) as run:
        for step in range(POINTS):
            run.log("x", float(step), step=step)
    return run


def test_wrong_credentials_degrade_the_backend_once_with_a_hint_and_no_password(
    server: AuthMlflowServer,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from ferrotrack.core.delivery.health import backend_health

    with caplog.at_level(logging.DEBUG):
        run = run_with_wrong_password()
    assert ft.metrics(runs=run.run_id).collect().height == POINTS, "the store keeps all"
    health = backend_health(run.run_dir)["mlflow"]
    assert health["state"] == "degraded", health
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and "'mlflow'" in r.getMessage()
    ]
    assert len(warnings) == 1, warnings
    warning = warnings[0]
    assert run.run_id in warning
    assert "MLFLOW_TRACKING_USERNAME" in warning
    assert "MLFLOW_TRACKING_PASSWORD" in warning
    assert "MLFLOW_TRACKING_TOKEN" in warning
    assert f"ferrotrack sync {run.run_id} --backend mlflow" in warning
    shown = cli("runs", "show", run.run_id, "--json")
    assert json.loads(shown.output)["backends"]["mlflow"]["state"] == "degraded"
    out, err = capfd.readouterr()
    records = [r.getMessage() for r in caplog.records]
    records += [str(r.exc_info[1]) for r in caplog.records if r.exc_info]
    files = [p.read_bytes().decode(errors="replace") for p in run.run_dir.rglob("*") if p.is_file()]
    for text in [*records, shown.output, out, err, json.dumps(health), *files]:
        assert WRONG not in text


def test_sync_with_the_right_credentials_fills_the_mlflow_run_once(
    server: AuthMlflowServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    from ferrotrack.core.delivery.health import backend_health

    run = run_with_wrong_password()
    assert backend_health(run.run_dir)["mlflow"]["state"] == "degraded"
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    result = cli("sync", run.run_id, "--backend", "mlflow")
    assert result.exit_code == 0, result.output
    assert backend_health(run.run_dir)["mlflow"]["state"] == "ok"
    client = MlflowClient(tracking_uri=server.uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    found = client.search_runs(ids, f"tags.`ferrotrack.run_id` = '{run.run_id}'")
    assert len(found) == 1, found
    history = client.get_metric_history(found[0].info.run_id, "x")
    counts = Counter(m.step for m in history)
    assert sorted(counts) == list(range(POINTS))
    assert set(counts.values()) == {1}, "every point exactly once"
    assert sorted((m.step, m.value) for m in history) == [(s, float(s)) for s in range(POINTS)]
    again = cli("sync", run.run_id, "--backend", "mlflow")
    assert again.exit_code == 0, again.output
    assert len(client.get_metric_history(found[0].info.run_id, "x")) == POINTS
