"""Settings: code > env > file precedence, and secrets that never show."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from ferrotrack.core.orchestrator import Orchestrator, OrchestratorOptions
from ferrotrack.core.settings import FerrotrackSettings

SECRET = "tok-9f8e7d6c5b4a"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(__import__("os").environ):
        if key.startswith("FERROTRACK_"):
            monkeypatch.delenv(key)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    return tmp_path


def test_file_env_code_precedence(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.ferrotrack]\nflush_interval = 5.0\ndurability = "none"\nbackends = ["a"]\n'
        '[tool.ferrotrack.backend_configs.a]\nurl = "file"\nretries = 1\n'
    )
    s = FerrotrackSettings()
    assert (s.flush_interval, s.durability, s.backends) == (5.0, "none", ["a"])
    monkeypatch.setenv("FERROTRACK_FLUSH_INTERVAL", "2.5")
    monkeypatch.setenv("FERROTRACK_BACKENDS", "b, c")
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__A__URL", "env")
    s = FerrotrackSettings()
    assert (s.flush_interval, s.durability, s.backends) == (2.5, "none", ["b", "c"])
    assert s.backend_configs["a"] == {"url": "env", "retries": 1}  # merged key by key
    s = FerrotrackSettings(flush_interval=9.0, backends=["d"])
    assert (s.flush_interval, s.backends) == (9.0, ["d"])


def test_ferrotrack_toml_nearest_wins(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.ferrotrack]\nflush_interval = 5.0\n")
    (project / "a" / "ferrotrack.toml").write_text("flush_interval = 7.0\n")
    assert FerrotrackSettings().flush_interval == 7.0


def test_no_file_gives_defaults(project: Path) -> None:
    s = FerrotrackSettings()
    assert (s.flush_interval, s.durability, s.backends) == (1.0, "on_close", [])


class _Conf(BaseModel):
    url: str
    api_key: SecretStr


def test_secrets_never_leak(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, doubles: Any
) -> None:
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__MLFLOW__API_KEY", SECRET)
    s = FerrotrackSettings(backend_configs={"mlflow": {"url": "http://x"}})
    assert SECRET not in repr(s)
    assert SECRET not in str(s)
    dumped = json.dumps(s.safe_dump())
    assert SECRET not in dumped
    assert "**********" in dumped
    config = s.plugin_config("backend", "mlflow")
    assert config["api_key"] == SECRET  # the plugin gets it...
    assert SECRET not in repr(_Conf.model_validate(config))  # ...and keeps it secret
    # a backend that puts the token in its error message: redacted in status and logs
    backend = doubles.Recording()

    def leak(batch: Any) -> None:
        raise PermissionError(f"bad token {SECRET}")

    backend.handle_batch = leak
    from ferrotrack.core.plugins import MetricData
    from ferrotrack.core.plugins.arrow import metrics_to_batch

    options = OrchestratorOptions(max_failures=2, backoff_initial=0.001)
    with caplog.at_level(logging.DEBUG, "ferrotrack"):
        with Orchestrator([backend], options=options, redact=s.redact) as orch:
            orch.submit(0, 0, metrics_to_batch([MetricData("a", 1.0)]))
        status = orch.status()["recording"]
    assert status["state"] == "degraded"
    assert "bad token **********" in status["last_error"]
    assert SECRET not in caplog.text
    assert SECRET not in json.dumps(status)
