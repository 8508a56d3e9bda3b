"""Seed 002 (Tracelet's plugin guide) runs on ferrotrack unchanged but for its imports.

Each test takes a ```python block out of the seed file itself, rewrites only its imports
(:data:`IMPORTS`, :data:`MODULES`: the documented mapping, also in ``docs/plugins.md``) and
executes it. Where a block talks to a real service (Neptune, Flax, Docker), a fake module
stands in for the library: those tests are named ``*_fake_*``, since the services cannot
run here. Blocks that are not Python, or broken as written, are listed in :data:`NOT_RUN`
with the reason, and a test checks that every block is either run or listed.
"""

from __future__ import annotations

import importlib.machinery
import os
import re
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

import ferrotrack.core as ft
from ferrotrack.core import plugins
from ferrotrack.core.errors import MissingDependencyError
from ferrotrack.core.plugins import (
    ActiveRunEmitter,
    MetricData,
    MetricType,
    PluginManager,
    PluginType,
    as_collector,
    dispatch_metrics,
)
from ferrotrack.core.plugins.metric_info import metric_info

SEEDS = [Path(__file__).parents[4] / "shared" / "seeds", Path("/work/shared/seeds")]
SEED = next(p for folder in SEEDS for p in sorted(folder.glob("002_*.txt")))
"""Seed 002, beside the repository in the project's workspace."""

IMPORTS = {
    "tracelet.core.plugins": "ferrotrack.core.plugins",
    "tracelet.core.orchestrator": "ferrotrack.core.plugins",
    "tracelet.utils.imports": "ferrotrack.core.plugins",
}
"""Tracelet's modules and the ferrotrack module that gives the same names."""

MODULES = {
    "tracelet.backends.neptune_backend": "seed002.neptune_backend",
    ".neptune_backend": "seed002.neptune_backend",
    "tracelet.frameworks.jax_framework": "seed002.jax_framework",
}
"""The guide's own example modules (its plugin code), as these tests name them."""

_RUN = "from ferrotrack.core.plugins import PluginRun as Experiment"
NAMES = {
    "from tracelet.core.experiment import Experiment": _RUN,
    "from tracelet import Experiment": _RUN,
}
"""Tracelet's ``Experiment``: the run takes its place (a :class:`PluginRun`, started later)."""

NOT_RUN = {
    "from pydantic import BaseSettings": "pydantic 1 API (BaseSettings moved to "
    "pydantic-settings); ferrotrack plugins get their config section from ferrotrack's "
    "settings, see docs/plugins.md",
    '[project.entry-points."tracelet.plugins"]': "TOML, not Python; ferrotrack has one "
    "entry-point group per kind (ferrotrack.backends, ...), see test_example_plugin.py",
    "Handle metric with robust error handling": "a method without its class (self._validate_"
    "metric, logger undefined): a fragment; backend errors: docs/plugins.md",
}


def seed_blocks() -> list[str]:
    """Every ```python block of the seed, dedented."""
    text = SEED.read_text(encoding="utf-8")
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", text, re.S)]


def block(marker: str) -> str:
    """The one block holding ``marker``, with its imports rewritten."""
    found = [b for b in seed_blocks() if marker in b]
    assert len(found) == 1, f"{len(found)} seed blocks hold {marker!r}"
    return rewrite(found[0])


def rewrite(code: str) -> str:
    """``code`` with Tracelet's module paths replaced, and nothing else changed."""
    for old, new in NAMES.items():
        code = code.replace(old, new)
    for old, new in {**IMPORTS, **MODULES}.items():
        code = re.sub(rf"(?<![\w.]){re.escape(old)}(?=[\s.'\"])", new, code)
    return code


SEED_FIXES = {
    "backend._run = Mock()": "backend._run = MagicMock()",
    "from unittest.mock import Mock, patch": "from unittest.mock import MagicMock, Mock, patch",
}
"""The seed's own tests index a ``Mock()`` (``_run["accuracy"]``), which only a
``MagicMock`` supports: broken as written, fixed here and noted in docs/plugins.md."""


def fake_module(name: str) -> types.ModuleType:
    """An empty module that ``importlib.util.find_spec`` sees as installed."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module


def load_module(name: str, code: str) -> types.ModuleType:
    """Executes ``code`` as module ``name`` (registered in ``sys.modules``)."""
    package, _, _ = name.rpartition(".")
    if package and package not in sys.modules:
        sys.modules[package] = types.ModuleType(package)
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(code, f"<seed 002: {name}>", "exec"), module.__dict__)
    return module


@pytest.fixture(autouse=True)
def clean_modules() -> Iterator[None]:
    """Forgets the seed's modules and the fake libraries after each test."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.split(".")[0] in {"seed002", "neptune", "flax", "optax", "docker"}:
            del sys.modules[name]


# ---- fake third-party libraries ---------------------------------------------------------


class FakeNeptuneRun:
    """What ``neptune.init_run`` returns: fields that record appends, uploads and values."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.fields: dict[str, Any] = {}
        self.stopped = False

    def __getitem__(self, key: str) -> Any:
        if key == "sys/id":
            field = mock.MagicMock()
            field.fetch.return_value = "NPT-1"
            return field
        return self.fields.setdefault(key, mock.MagicMock())

    def __setitem__(self, key: str, value: Any) -> None:
        self.fields[key] = value

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def fake_neptune(monkeypatch: pytest.MonkeyPatch) -> list[FakeNeptuneRun]:
    """A ``neptune`` module whose ``init_run`` records the runs it makes."""
    made: list[FakeNeptuneRun] = []
    module = fake_module("neptune")

    def init_run(**kwargs: Any) -> FakeNeptuneRun:
        made.append(FakeNeptuneRun(**kwargs))
        return made[-1]

    module.init_run = init_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "neptune", module)
    return made


def install_fake_flax(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``flax.training.train_state.TrainState`` with ``apply_gradients``, ``step``, ``tx``."""

    class TrainState:
        def __init__(self, step: int, learning_rate: float) -> None:
            self.step = step
            self.opt_state = object()
            self.tx = types.SimpleNamespace(learning_rate=learning_rate)

        def apply_gradients(self, **kwargs: Any) -> TrainState:
            return TrainState(self.step + 1, self.tx.learning_rate)

    flax = fake_module("flax")
    training = fake_module("flax.training")
    train_state = fake_module("flax.training.train_state")
    train_state.TrainState = TrainState  # type: ignore[attr-defined]
    training.train_state = train_state  # type: ignore[attr-defined]
    flax.training = training  # type: ignore[attr-defined]
    for name, module in {
        "flax": flax,
        "flax.training": training,
        "flax.training.train_state": train_state,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    return TrainState


# ---- the blocks -------------------------------------------------------------------------


def test_every_python_block_is_run_or_listed_with_a_reason() -> None:
    markers = [
        "class MLflowBackend(BackendPlugin)",
        "# tracelet/backends/neptune_backend.py",
        "def get_backend(name: str)",
        "class TestNeptuneBackend:\n    @patch",
        "class JAXFramework(PluginBase, MetricSource)",
        "class AdvancedJAXFramework(JAXFramework)",
        "class DockerCollector(PluginBase)",
        "def mock_neptune():",
        "class ResourceManagedPlugin(PluginBase)",
        "exp._plugin_manager.register_plugin",
        "def test_neptune_integration",
        "class NeptuneConfig(BaseModel)",
        *NOT_RUN,
    ]
    for code in seed_blocks():
        assert sum(m in code for m in markers) >= 1, f"seed block not covered:\n{code[:200]}"


def test_plugin_hierarchy_block() -> None:
    namespace: dict[str, Any] = {name: getattr(plugins, name) for name in plugins.__all__}
    exec(block("class MLflowBackend(BackendPlugin)"), namespace)
    assert namespace["MLflowBackend"].get_metadata().type is PluginType.BACKEND
    collector = namespace["SystemCollector"]()
    assert collector.get_metadata().type is PluginType.COLLECTOR
    assert collector.state == "created"


NEPTUNE = "# tracelet/backends/neptune_backend.py"


def neptune_module() -> types.ModuleType:
    return load_module("seed002.neptune_backend", block(NEPTUNE))


def test_neptune_backend_lifecycle_through_the_manager_fake_neptune(
    fake_neptune: list[FakeNeptuneRun],
) -> None:
    """initialize (overridden without super), start, get_status, stop: the manager drives
    them and the plugin's state advances although the seed never calls ``super()``."""
    NeptuneBackend = neptune_module().NeptuneBackend
    manager = PluginManager(use_entry_points=False)
    manager.register_plugin(NeptuneBackend)
    backend: Any = manager.create(
        "neptune", PluginType.BACKEND, {"project": "ws/proj", "api_token": "tok"}
    )
    assert backend.state == "initialized"
    assert backend._config == {"project": "ws/proj", "api_token": "tok"}
    assert fake_neptune[0].kwargs == {"project": "ws/proj", "api_token": "tok", "name": None}
    manager.start_all()
    assert backend.state == "started"
    assert manager.status()["neptune"] == {"active": True, "run_id": "NPT-1"}
    backend.handle_metric(MetricData("acc", 0.5, MetricType.SCALAR, iteration=7))
    backend.handle_metric(MetricData("lr", 0.1, MetricType.PARAMETER))
    fake_neptune[0].fields["acc"].append.assert_called_once_with(0.5, step=7)
    assert fake_neptune[0].fields["parameters/lr"] == 0.1
    manager.stop_all()
    assert backend.state == "stopped"
    assert fake_neptune[0].stopped


def test_neptune_backend_mirrors_a_run_fake_neptune(
    root: Path, fake_neptune: list[FakeNeptuneRun]
) -> None:
    """The seed's backend, given to a run as an instance, gets the run's points with their
    steps as ``iteration``."""
    backend: Any = neptune_module().NeptuneBackend()
    with ft.start_run("neptune", backends=[backend]) as run:
        for step in range(5):
            run.log("loss", 1.0 / (step + 1), step=step)
    calls = fake_neptune[0].fields["loss"].append.call_args_list
    assert [c.kwargs["step"] for c in calls] == list(range(5))
    assert [c.args[0] for c in calls] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert fake_neptune[0].stopped


def test_manual_registration_block_fake_neptune_flax(
    root: Path, fake_neptune: list[FakeNeptuneRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guide's manual registration, verbatim, with the run in place of Tracelet's
    Experiment: the instances registered on ``exp._plugin_manager`` take part in the run
    started by ``exp.start()`` (the backend mirrors it, the framework patches while it runs
    and restores when it stops)."""
    neptune_module()
    TrainState = install_fake_flax(monkeypatch)
    original = TrainState.__dict__["apply_gradients"]
    load_module("seed002.jax_framework", block("class JAXFramework(PluginBase"))
    namespace: dict[str, Any] = {}
    exec(block("exp._plugin_manager.register_plugin"), namespace)
    exp = namespace["exp"]
    try:
        assert ft.active_run() is exp.run
        assert namespace["neptune_backend"].state == "started"
        assert namespace["jax_framework"].state == "started"
        assert TrainState.__dict__["apply_gradients"] is not original
        exp.log_metric("x", 1.0, iteration=3)
        TrainState(step=4, learning_rate=0.5).apply_gradients(grads=None)
    finally:
        exp.stop()
    assert exp.status == "finished"
    assert TrainState.__dict__["apply_gradients"] is original
    assert fake_neptune[0].fields["x"].append.call_args.kwargs == {"step": 3}
    assert fake_neptune[0].stopped
    names = set(ft.metrics(runs=[exp.run_id]).collect()["name"].cast(str).to_list())
    assert {"x", "learning_rate"} <= names


def neptune_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's ``tracelet-neptune`` package, installed: its ``pyproject.toml`` entry
    point (group ``ferrotrack.backends`` for ``tracelet.backends``) names the seed's class."""
    info = tmp_path / "site" / "tracelet_neptune-1.0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: tracelet-neptune\nVersion: 1.0.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[ferrotrack.backends]\nneptune = seed002.neptune_backend:NeptuneBackend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


@pytest.mark.usefixtures("fresh_discovery")
def test_integration_block_by_entry_point_fake_neptune(
    root: Path, fake_neptune: list[FakeNeptuneRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guide's integration test, verbatim: ``backend=["neptune"]`` is found through the
    installed package's entry point, and the metric and params reach Neptune (a stand-in:
    no Neptune account here)."""
    neptune_module()
    neptune_distribution(root.parent, monkeypatch)
    namespace: dict[str, Any] = {}
    exec(block("def test_neptune_integration"), namespace)
    namespace["test_neptune_integration"]()
    (neptune_run,) = fake_neptune
    assert neptune_run.fields["test_accuracy"].append.call_args.args == (0.95,)
    assert neptune_run.fields["test_accuracy"].append.call_args.kwargs == {"step": 1}
    assert neptune_run.fields["parameters/learning_rate"] == 0.001
    assert neptune_run.stopped
    (row,) = ft.runs().iter_rows(named=True)
    assert row["name"] == "integration_test"
    assert row["status"] == "finished"


def test_backend_registry_block() -> None:
    backend = neptune_module()
    registry = load_module("seed002.backends", block("def get_backend(name: str)"))
    assert registry.get_backend("neptune") is backend.NeptuneBackend
    assert registry.get_backend("nope") is None


def test_require_names_the_feature_and_the_install() -> None:
    neptune_module()
    with pytest.raises(MissingDependencyError, match=r"Neptune backend .*pip install neptune"):
        sys.modules["seed002.neptune_backend"].NeptuneBackend().initialize({})


@pytest.mark.slow
def test_the_seeds_own_unit_tests_pass(tmp_path: Path) -> None:
    """The guide's two test modules, run by pytest as written (imports rewritten)."""
    package = tmp_path / "seed002"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "neptune_backend.py").write_text(block(NEPTUNE))
    for name, marker in {
        "test_unit.py": "class TestNeptuneBackend:\n    @patch",
        "test_fixture.py": "def mock_neptune():",
    }.items():
        code = block(marker)
        for broken, fixed in SEED_FIXES.items():
            code = code.replace(broken, fixed)
        (tmp_path / name).write_text(code)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull,
         str(tmp_path)],
        check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_jax_framework_logs_to_the_active_run_fake_flax(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's JAX plugin patches TrainState.apply_gradients; each call's learning rate
    goes to the run active then, with the step as ``iteration`` and its source; ``stop``
    puts back the very function that was there."""
    TrainState = install_fake_flax(monkeypatch)
    original = TrainState.__dict__["apply_gradients"]
    jax = load_module("seed002.jax_framework", block("class JAXFramework(PluginBase"))
    framework = jax.JAXFramework()
    manager = PluginManager(use_entry_points=False)
    manager.create(framework, PluginType.FRAMEWORK)
    framework.set_experiment(ActiveRunEmitter())
    with ft.start_run("jax") as run:
        manager.start_all()
        assert framework.state == "started"
        assert manager.status()["jax"] == {"patched": True}
        state = TrainState(step=3, learning_rate=0.01)
        for _ in range(3):
            state = state.apply_gradients(grads=None)
        manager.stop_all()
        state.apply_gradients(grads=None)  # restored: not captured
    assert TrainState.__dict__["apply_gradients"] is original
    frame = ft.metrics(runs=[run.run_id]).collect()
    assert frame["step"].to_list() == [3, 4, 5]
    assert metric_info(run.run_dir)["learning_rate"] == {
        "type": "scalar",
        "source": "jax_framework",
        "metadata": {},
    }


def test_advanced_jax_framework_patches_both_fake_flax_optax(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The subclass patches Optax too. As written, it calls ``_patch_flax_training``, which
    the seed never defines (added here as a no-op), and its ``stop`` does not restore Optax
    (``_restore_original_functions`` knows only Flax): docs/plugins.md says both."""
    TrainState = install_fake_flax(monkeypatch)
    optax = fake_module("optax")

    class GradientTransformation:
        def update(self, updates: Any, state: Any, params: Any = None) -> Any:
            return updates, state

    optax.GradientTransformation = GradientTransformation  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "optax", optax)
    jax = load_module("seed002.jax_framework", block("class JAXFramework(PluginBase"))
    exec(block("class AdvancedJAXFramework(JAXFramework)"), jax.__dict__)
    original = TrainState.apply_gradients

    class Advanced(jax.AdvancedJAXFramework):  # type: ignore[misc, name-defined]
        def _patch_flax_training(self) -> None:
            """Called by the seed, defined nowhere in it: a no-op here."""

    framework = Advanced()
    framework.initialize({})
    framework.start()
    assert TrainState.apply_gradients is not original
    assert GradientTransformation.update.__name__ == "wrapped_update"
    assert GradientTransformation().update(None, "s") == (None, "s")
    framework.stop()
    assert TrainState.apply_gradients is original


def install_fake_docker(monkeypatch: pytest.MonkeyPatch) -> None:
    """``docker.DockerClient.from_env()`` whose container reports fixed stats."""
    stats = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 300, "percpu_usage": [0, 0]},
            "system_cpu_usage": 2000,
        },
        "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
        "memory_stats": {"usage": 25, "limit": 100},
    }
    container = types.SimpleNamespace(stats=lambda stream: stats)
    client = types.SimpleNamespace(containers=types.SimpleNamespace(get=lambda cid: container))
    docker = fake_module("docker")
    docker.DockerClient = types.SimpleNamespace(from_env=lambda: client)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "docker", docker)


def test_docker_collector_samples_into_the_run_fake_docker(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's collector (a PluginBase with ``collect()``, ``time.time()`` timestamps):
    its points keep type SYSTEM and source, the float timestamp is read as seconds."""
    install_fake_docker(monkeypatch)
    module = load_module("seed002.docker_collector", block("class DockerCollector(PluginBase)"))
    plugin = module.DockerCollector()
    manager = PluginManager(use_entry_points=False)
    manager.create(plugin, PluginType.COLLECTOR, {"interval": 0})
    plugin._container_id = "abc123"  # what _detect_current_container finds inside Docker
    collector = as_collector(plugin)
    with ft.start_run("docker") as run:
        collector.bind(lambda metrics: dispatch_metrics(run, metrics))
        collector.start()  # interval 0: one sample at start
        assert plugin._active
        assert plugin.state == "started"
        collector.stop()
        assert not plugin._active
    frame = ft.metrics(runs=[run.run_id]).collect().sort("name")
    assert frame["name"].cast(str).to_list() == ["docker/cpu_percent", "docker/memory_percent"]
    assert frame["value"].to_list() == [40.0, 25.0]
    stamp = frame["timestamp"].dt.epoch("s").to_list()[0]
    assert abs(stamp - time.time()) < 600  # seconds, not nanoseconds since 1970
    assert metric_info(run.run_dir)["docker/memory_percent"]["type"] == "system"
    assert metric_info(run.run_dir)["docker/memory_percent"]["source"] == "docker_collector"


def test_resource_managed_plugin_block() -> None:
    namespace: dict[str, Any] = {"PluginBase": plugins.PluginBase, "logger": mock.Mock()}
    exec(block("class ResourceManagedPlugin(PluginBase)"), namespace)

    base: Any = namespace["ResourceManagedPlugin"]

    class Managed(base):  # type: ignore[misc]
        @classmethod
        def get_metadata(cls) -> plugins.PluginMetadata:
            return plugins.PluginMetadata(name="managed", type=PluginType.PROCESSOR)

    with Managed() as plugin:
        assert plugin.state == "started"
    assert plugin._active is False


def test_config_validation_block() -> None:
    from pydantic import ValidationError

    namespace: dict[str, Any] = {
        "BackendPlugin": plugins.BackendPlugin,
        "Dict": dict,
        "Any": Any,
    }
    with pytest.warns(
        DeprecationWarning, match="validator"
    ):  # pydantic 2 still runs the v1 ``validator``
        exec(block("class NeptuneConfig(BaseModel)"), namespace)
    config = namespace["NeptuneConfig"](project="ws/p", api_token="t")
    assert config.mode == "async"
    with pytest.raises(ValidationError, match="workspace/project"):
        namespace["NeptuneConfig"](project="nope", api_token="t")


def test_seed_plugins_run_through_start_run_fake_docker_flax(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's plain collector and framework given to ``start_run`` as they are: the
    session samples the collector's ``collect()`` and hands the framework an emitter to the
    active run; both stop (and restore) when the run ends."""
    install_fake_docker(monkeypatch)
    TrainState = install_fake_flax(monkeypatch)
    original = TrainState.__dict__["apply_gradients"]
    docker_module = load_module(
        "seed002.docker_collector", block("class DockerCollector(PluginBase)")
    )
    jax = load_module("seed002.jax_framework", block("class JAXFramework(PluginBase"))
    monkeypatch.setattr(
        docker_module.DockerCollector, "_detect_current_container", lambda self: "abc123"
    )
    monkeypatch.setenv("FERROTRACK_COLLECTOR_CONFIGS__DOCKER__INTERVAL", "0")  # sample once
    collector = docker_module.DockerCollector()
    framework = jax.JAXFramework()
    with ft.start_run("seed", collectors=[collector], frameworks=[framework]) as run:
        assert collector.state == "started"
        TrainState(step=7, learning_rate=0.5).apply_gradients(grads=None)
    assert TrainState.__dict__["apply_gradients"] is original
    assert not collector._active
    names = set(ft.metrics(runs=[run.run_id]).collect()["name"].cast(str).to_list())
    assert {"docker/cpu_percent", "learning_rate"} <= names
