"""Settings: code > env > file precedence, and secrets that never show."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from ferrotrack.core.delivery.orchestrator import Orchestrator, OrchestratorOptions
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.settings import (
    DURABILITIES,
    FerrotrackSettings,
    TrackingDefaults,
    tracking_defaults,
)
from ferrotrack.core.store.layout import resolve_root

SECRET = "tok-9f8e7d6c5b4a"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` with the cwd two folders below it and no ``FERROTRACK_*`` variable."""
    for key in list(os.environ):
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


# ---- the one light lookup (tracking_defaults / resolve_root) ------------------------------


def test_lookup_precedence_explicit_env_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "ferrotrack.toml").write_text(
        'root = "file-runs"\nflush_interval = 5.0\ndurability = "none"\n'
        'backends = ["a"]\nframeworks = "f1, f2"\n'
    )
    d = tracking_defaults()
    assert d.root == project / "file-runs"  # relative to the file's folder, not the cwd
    assert (d.flush_interval, d.durability, d.backends, d.frameworks) == (
        5.0,
        "none",
        ("a",),
        ("f1", "f2"),
    )
    assert d.settings_file == project / "ferrotrack.toml"
    assert d.plugins_configured
    monkeypatch.setenv("FERROTRACK_ROOT", "env-runs")
    monkeypatch.setenv("FERROTRACK_FLUSH_INTERVAL", "2.5")
    monkeypatch.setenv("FERROTRACK_DURABILITY", "every_flush")
    monkeypatch.setenv("FERROTRACK_BACKENDS", "")  # set but empty: no backends
    monkeypatch.setenv("FERROTRACK_PROCESSORS", '["p"]')
    d = tracking_defaults()
    assert d.root == Path("env-runs")  # relative to the cwd
    assert (d.flush_interval, d.durability, d.backends, d.processors) == (
        2.5,
        "every_flush",
        (),
        ("p",),
    )
    d = tracking_defaults(root="arg", flush_interval=0.5, durability="on_close")
    assert (d.root, d.flush_interval, d.durability) == (Path("arg"), 0.5, "on_close")
    assert resolve_root() == Path("env-runs")
    assert resolve_root("x") == Path("x")
    monkeypatch.delenv("FERROTRACK_ROOT")
    assert resolve_root() == project / "file-runs"


def test_lookup_defaults_without_settings(project: Path) -> None:
    d = tracking_defaults()
    assert d == TrackingDefaults(Path("ferrotrack-runs"), 1.0, "on_close")
    assert not d.plugins_configured
    assert resolve_root() == Path("ferrotrack-runs")


def test_pyproject_table_and_nearest_file(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.ferrotrack]\nroot = "runs"\n')
    (project / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no table: skipped
    assert resolve_root() == project / "runs"
    assert FerrotrackSettings().root == project / "runs"  # the pydantic layer agrees
    (project / "a" / "b" / "ferrotrack.toml").write_text("durability = 'none'\n")
    assert resolve_root() == Path("ferrotrack-runs")  # the nearer file has no root
    assert tracking_defaults().durability == "none"


def test_lookup_sees_edits_between_calls(project: Path) -> None:
    path = project / "ferrotrack.toml"
    path.write_text("flush_interval = 2.0\n")
    assert tracking_defaults().flush_interval == 2.0
    path.write_text("flush_interval = 30.0\n")
    assert tracking_defaults().flush_interval == 30.0
    path.unlink()
    assert tracking_defaults().flush_interval == 1.0


@pytest.mark.parametrize(
    ("env", "file", "named"),
    [
        ({"FERROTRACK_FLUSH_INTERVAL": "soon"}, "", "FERROTRACK_FLUSH_INTERVAL"),
        ({"FERROTRACK_FLUSH_INTERVAL": "-1"}, "", "FERROTRACK_FLUSH_INTERVAL"),
        ({"FERROTRACK_FLUSH_INTERVAL": "nan"}, "", "FERROTRACK_FLUSH_INTERVAL"),
        ({"FERROTRACK_DURABILITY": "always"}, "", "FERROTRACK_DURABILITY"),
        ({"FERROTRACK_BACKENDS": "[1, 2]"}, "", "FERROTRACK_BACKENDS"),
        ({"FERROTRACK_COLLECTORS": "[oops"}, "", "FERROTRACK_COLLECTORS"),
        ({}, "flush_interval = 'x'\n", "key 'flush_interval'"),
        ({}, "flush_interval = true\n", "key 'flush_interval'"),
        ({}, "durability = 3\n", "key 'durability'"),
        ({}, "root = 5\n", "key 'root'"),
        ({}, "root = ''\n", "key 'root'"),
        ({}, "frameworks = [1]\n", "key 'frameworks'"),
        ({}, "flush_interval = \n", "expected valid TOML"),
    ],
)
def test_bad_values_name_the_variable_or_key(
    project: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], file: str, named: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if file:
        (project / "ferrotrack.toml").write_text(file)
    with pytest.raises(InvalidArgumentError, match=re.escape(named)) as info:
        tracking_defaults()
    assert "expected" in str(info.value)
    with pytest.raises(InvalidArgumentError, match=re.escape(named)):
        FerrotrackSettings()  # the pydantic layer gives the same message


def test_bad_explicit_values_are_named(project: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="root: expected a folder path"):
        resolve_root(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="durability: expected one of"):
        tracking_defaults(durability="sometimes")
    with pytest.raises(InvalidArgumentError, match="flush_interval: expected seconds > 0"):
        tracking_defaults(flush_interval=0)


@given(
    case=st.tuples(
        st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False),
        st.sampled_from(DURABILITIES),
        st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), max_size=4),
        st.booleans(),
    )
)
def test_values_round_trip_through_env_and_file(
    project: Path, monkeypatch: pytest.MonkeyPatch, case: tuple[float, str, list[str], bool]
) -> None:
    interval, durability, names, via_env = case
    for key in ("FLUSH_INTERVAL", "DURABILITY", "COLLECTORS"):
        monkeypatch.delenv(f"FERROTRACK_{key}", raising=False)
    path = project / "ferrotrack.toml"
    if via_env:
        path.unlink(missing_ok=True)
        monkeypatch.setenv("FERROTRACK_FLUSH_INTERVAL", repr(interval))
        monkeypatch.setenv("FERROTRACK_DURABILITY", durability)
        monkeypatch.setenv("FERROTRACK_COLLECTORS", ",".join(names))
    else:
        path.write_text(
            f"flush_interval = {interval!r}\ndurability = {json.dumps(durability)}\n"
            f"collectors = {json.dumps(names)}\n"
        )
    d = tracking_defaults()
    assert (d.flush_interval, d.durability, d.collectors) == (interval, durability, tuple(names))


def test_lookup_never_loads_pydantic(tmp_path: Path) -> None:
    (tmp_path / "ferrotrack.toml").write_text('root = "r"\ndurability = "none"\n')
    code = (
        "import sys\n"
        "from ferrotrack.core.settings import tracking_defaults\n"
        "from ferrotrack.core.store.layout import resolve_root\n"
        "d = tracking_defaults(); r = resolve_root()\n"
        "assert d.durability == 'none' and r.name == 'r', (d, r)\n"
        "assert 'pydantic' not in sys.modules\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTRACK_")}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, timeout=60)


# ---- start_run applies the lookup every time ---------------------------------------------


@pytest.fixture
def writer_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The keyword arguments of every MetricWriter that ferrotrack opens."""
    from ferrotrack.core import _native

    real = _native.MetricWriter
    calls: list[dict[str, Any]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    for module in list(sys.modules.values()):
        name = getattr(module, "__name__", "")
        if name.startswith("ferrotrack.core") and getattr(module, "MetricWriter", None) is real:
            monkeypatch.setattr(module, "MetricWriter", spy)
    return calls


def test_durability_from_env_alone_applies(
    project: Path, monkeypatch: pytest.MonkeyPatch, writer_calls: list[dict[str, Any]]
) -> None:
    import ferrotrack.core as ft

    monkeypatch.setenv("FERROTRACK_DURABILITY", "every_flush")
    monkeypatch.setenv("FERROTRACK_FLUSH_INTERVAL", "0.25")
    (project / "pyproject.toml").write_text('[project]\nname = "no-ferrotrack-table"\n')
    with ft.start_run("d") as run:
        run.log("x", 1.0, 0)
        run_json = run.run_dir / "run.json"
    assert writer_calls[-1]["durability"] == "every_flush"
    assert json.loads(run_json.read_text())["flush_interval"] == 0.25
    assert run_json.resolve().is_relative_to(project / "a" / "b" / "ferrotrack-runs")
    with ft.start_run("e", durability="none", flush_interval=2.0):  # explicit over env
        pass
    assert writer_calls[-1]["durability"] == "none"
    assert writer_calls[-1]["flush_interval"] == 2.0


# ---- settings for any plugin kind, and packages' own sections ------------------------------


def test_every_plugin_kind_has_configs_and_selection(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ferrotrack.core.plugins import PluginType

    (project / "pyproject.toml").write_text(
        '[tool.ferrotrack]\nprocessors = ["every_nth"]\n'
        "[tool.ferrotrack.framework_configs.torch]\nlog_every = 10\n"
        '[tool.ferrotrack.run_configs.local]\ncommand = "python train.py"\n'
        '[tool.ferrotrack.postprocess_configs.summary]\napi_key = "pp-secret-123"\n'
        "[tool.ferrotrack.processor_configs.every_nth]\nn = 5\n"
    )
    monkeypatch.setenv("FERROTRACK_FRAMEWORKS", "torch, lightning")
    monkeypatch.setenv("FERROTRACK_PIPELINE_CONFIGS__SWEEP__WORKERS", "3")
    monkeypatch.setenv("FERROTRACK_COLLECTOR_CONFIGS__GPU__INTERVAL", "2")
    s = FerrotrackSettings()
    assert s.frameworks == ["torch", "lightning"]
    assert s.processors == ["every_nth"]
    assert s.plugin_config(PluginType.FRAMEWORK, "torch") == {"log_every": 10}
    assert s.plugin_config("framework", "torch") == {"log_every": 10}
    assert s.plugin_config(PluginType.RUN, "local") == {"command": "python train.py"}
    assert s.plugin_config("pipeline", "sweep") == {"workers": "3"}
    assert s.plugin_config(PluginType.PROCESSOR, "every_nth") == {"n": 5}
    assert s.plugin_config("collector", "gpu") == {"interval": "2"}
    assert s.plugin_config("backend", "absent") == {}
    assert s.plugin_config("postprocess", "summary") == {"api_key": "pp-secret-123"}
    assert "pp-secret-123" not in json.dumps(s.safe_dump())
    assert s.redact("key pp-secret-123 leaked") == "key ********** leaked"
    with pytest.raises(InvalidArgumentError, match="plugin kind 'exporter': expected one of"):
        s.plugin_config("exporter", "x")
    assert FerrotrackSettings(frameworks=["a"], processors="p, q").processors == ["p", "q"]


class _UiSettings(BaseModel):
    port: int = 8080
    host: str = "127.0.0.1"
    token: SecretStr | None = None
    origins: list[str] = []


def test_a_package_reads_its_own_section(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "pyproject.toml").write_text(
        f'[tool.ferrotrack.ui]\nport = 9000\nhost = "0.0.0.0"\ntoken = "{SECRET}"\n'
    )
    ui = FerrotrackSettings().section("ui", _UiSettings)
    assert (ui.port, ui.host) == (9000, "0.0.0.0")
    assert ui.token is not None
    assert ui.token.get_secret_value() == SECRET
    assert SECRET not in repr(ui)
    monkeypatch.setenv("FERROTRACK_UI__PORT", "9100")
    monkeypatch.setenv("FERROTRACK_UI__ORIGINS", '["http://a", "http://b"]')
    s = FerrotrackSettings(sections={"ui": {"host": "localhost"}})
    ui = s.section("ui", _UiSettings)
    assert (ui.port, ui.host, ui.origins) == (9100, "localhost", ["http://a", "http://b"])
    assert s.redact(f"token={SECRET}") == "token=**********"
    assert SECRET not in repr(s)
    assert SECRET not in json.dumps(s.safe_dump())
    assert FerrotrackSettings().section("absent", _UiSettings) == _UiSettings()


def test_section_in_ferrotrack_toml_and_bad_sections(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "ferrotrack.toml").write_text('[ui]\nport = "not a port"\n')
    with pytest.raises(InvalidArgumentError, match=r"section 'ui'.*port"):
        FerrotrackSettings().section("ui", _UiSettings)
    (project / "ferrotrack.toml").write_text("[ui]\nport = 1234\n")
    assert FerrotrackSettings().section("ui", _UiSettings).port == 1234
    with pytest.raises(InvalidArgumentError, match="core setting"):
        FerrotrackSettings().section("backends", _UiSettings)
    with pytest.raises(InvalidArgumentError, match="expected a lower-case name"):
        FerrotrackSettings().section("Bad-Name", _UiSettings)
    with pytest.raises(InvalidArgumentError, match="expected a pydantic model class"):
        FerrotrackSettings().section("ui", dict)  # type: ignore[type-var]
