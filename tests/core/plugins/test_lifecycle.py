"""Lifecycle: config validation, start order, stop on errors, framework patches, collectors."""

from __future__ import annotations

import types
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins import (
    BackendPlugin,
    CollectorPlugin,
    FrameworkPlugin,
    MetricData,
    MetricType,
    PluginBase,
    PluginManager,
    PluginMetadata,
    PluginType,
    PluginWarning,
    dispatch_metrics,
)

events: list[str] = []


def plugin(
    name: str, kind: PluginType, *, requires: tuple[str, ...] = (), fail_on: str = ""
) -> type[PluginBase]:
    base: Any = {
        PluginType.BACKEND: BackendPlugin,
        PluginType.COLLECTOR: CollectorPlugin,
        PluginType.FRAMEWORK: FrameworkPlugin,
    }.get(kind, PluginBase)

    class P(base):  # type: ignore[misc]
        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name=name, type=kind, requires=list(requires))

        def collect(self) -> list[MetricData]:
            return []

        def initialize(self, config: Any = None) -> None:
            if fail_on == "initialize":
                raise RuntimeError("cannot connect")
            super().initialize(config)

        def start(self) -> None:
            if fail_on == "start":
                raise RuntimeError("start failed")
            events.append(f"start {name}")
            super().start()

        def stop(self) -> None:
            events.append(f"stop {name}")
            super().stop()

    return P


@pytest.fixture(autouse=True)
def _clear() -> None:
    events.clear()


def test_start_in_dependency_order_and_stop_in_reverse_on_exception() -> None:
    pm = PluginManager(use_entry_points=False)
    pm.create(plugin("fw", PluginType.FRAMEWORK))
    pm.create(plugin("sys", PluginType.COLLECTOR, requires=("gpu",)))
    pm.create(plugin("gpu", PluginType.COLLECTOR))
    pm.create(plugin("sink", PluginType.BACKEND))

    def user_code() -> None:
        with pm:
            pm.start_all()
            raise KeyError("user code failed")

    with pytest.raises(KeyError):
        user_code()
    assert events == [
        "start sink",
        "start gpu",
        "start sys",
        "start fw",
        "stop fw",
        "stop sys",
        "stop gpu",
        "stop sink",
    ]
    pm.stop_all()  # second call: nothing more
    assert len(events) == 8


def test_requires_cycle_and_unknown_requirement_are_errors() -> None:
    pm = PluginManager(use_entry_points=False)
    pm.create(plugin("a", PluginType.COLLECTOR, requires=("b",)))
    pm.create(plugin("b", PluginType.COLLECTOR, requires=("a",)))
    with pytest.raises(InvalidArgumentError, match="cycle"):
        pm.start_order()
    pm2 = PluginManager(use_entry_points=False)
    pm2.create(plugin("c", PluginType.COLLECTOR, requires=("zzz",)))
    with pytest.raises(InvalidArgumentError, match="'zzz'"):
        pm2.start_order()


def test_plugin_failing_to_initialize_or_start_is_isolated() -> None:
    pm = PluginManager(use_entry_points=False)
    pm.register_plugin(plugin("bad_init", PluginType.BACKEND, fail_on="initialize"))
    with pytest.warns(PluginWarning, match="'bad_init'.*cannot connect"):
        assert pm.add("bad_init") is None
    pm.create(plugin("bad_start", PluginType.BACKEND, fail_on="start"))
    pm.create(plugin("good", PluginType.BACKEND))
    with pytest.warns(PluginWarning, match="'bad_start'.*start failed"):
        started = pm.start_all()
    assert [p.name for p in started] == ["good"]
    status = pm.status()
    assert status["bad_init"]["state"] == "failed"
    assert status["good"]["state"] == "started"
    pm.stop_all()


class _Config(BaseModel):
    url: str
    retries: int = 3
    api_key: SecretStr | None = None


class _Configured(BackendPlugin):
    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="configured", type=PluginType.BACKEND, config_model=_Config)

    def handle_metric(self, metric: MetricData) -> None:
        pass


def test_invalid_config_names_the_field_and_never_echoes_values() -> None:
    pm = PluginManager(use_entry_points=False)
    pm.register_plugin(_Configured)
    with pytest.raises(InvalidArgumentError) as err:
        pm.add("configured", config={"retries": "many", "api_key": 12345678})
    text = str(err.value)
    assert "url: Field required" in text
    assert "retries:" in text
    assert "api_key:" in text
    assert "many" not in text
    assert "12345678" not in text
    assert err.value.__cause__ is None
    assert err.value.__context__ is None
    ok = pm.create("configured", config={"url": "http://x", "api_key": "s3cr3t-v4lue"})
    assert ok.config.api_key.get_secret_value() == "s3cr3t-v4lue"
    assert "s3cr3t" not in repr(ok.config)


def test_framework_stop_restores_exactly_what_was_there() -> None:
    class Base:
        def step(self) -> str:
            return "base"

    class Target(Base):
        def own(self) -> str:
            return "own"

    module = types.SimpleNamespace(value=1)

    class Capture(FrameworkPlugin):
        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="capture", type=PluginType.FRAMEWORK)

        def start(self) -> None:
            original = Target.step
            self.patch(Target, "step", lambda s: "patched " + original(s))
            self.patch(Target, "own", lambda s: "patched own")
            self.patch(module, "value", 2)
            self.patch(module, "added", 3)
            super().start()

    own_before = Target.__dict__["own"]
    with Capture():
        assert Target().step() == "patched base"
        assert Target().own() == "patched own"
        assert module.value == 2
        assert module.added == 3
    assert "step" not in Target.__dict__  # inherited again, not copied down
    assert Target.__dict__["own"] is own_before
    assert module.value == 1
    assert not hasattr(module, "added")


class _Facts(CollectorPlugin):
    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="facts", type=PluginType.COLLECTOR)

    def collect(self) -> list[MetricData]:
        return [
            MetricData("git.commit", "abc", MetricType.PARAMETER),
            MetricData("host", "node1", MetricType.TEXT),
            MetricData("cpu", 0.5, MetricType.SYSTEM, step=0),
        ]


class _Run:
    def __init__(self) -> None:
        self.logged: list[tuple[str, float]] = []
        self.params: dict[str, Any] = {}
        self.tags: dict[str, str] = {}

    def log(
        self, name: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        self.logged.append((name, value))

    def log_params(self, params: Any) -> None:
        self.params.update(params)

    def set_tags(self, tags: Any) -> None:
        self.tags.update(tags)

    def log_artifact(self, path: Any, name: str | None = None) -> None:
        raise AssertionError("no artifacts expected")


def test_static_collector_runs_once_and_facts_become_params_and_tags() -> None:
    run = _Run()
    facts = _Facts()
    facts.bind(lambda metrics: dispatch_metrics(run, metrics))
    with facts:
        pass
    assert facts.samples == 1
    assert run.params == {"git.commit": "abc"}
    assert run.tags == {"host": "node1"}
    assert run.logged == [("cpu", 0.5)]


def test_periodic_collector_samples_on_a_thread_and_survives_errors(waiter: Any) -> None:
    class Sometimes(CollectorPlugin):
        interval = 0.005
        n = 0

        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="sometimes", type=PluginType.COLLECTOR)

        def collect(self) -> list[MetricData]:
            self.n += 1
            if self.n % 2:
                raise OSError("sensor busy")
            return [MetricData("t", float(self.n), MetricType.SYSTEM)]

    got: list[MetricData] = []
    collector = Sometimes()
    collector.bind(got.extend)
    with collector:
        assert waiter(lambda: len(got) >= 3)
    assert collector.errors >= 3
    assert collector.get_status()["state"] == "stopped"
    count = len(got)
    assert not waiter(lambda: len(got) > count, timeout=0.05)  # stopped means stopped
