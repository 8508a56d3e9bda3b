"""Frameworks bound to runs: one patch per process however many runs or instances hold it,
values logged to the run active at each call, and the original attributes put back."""

from __future__ import annotations

from pathlib import Path

import pytest

import ferrotrack.core as ft
from ferrotrack.core.plugins import FrameworkPlugin, MetricData, PluginMetadata, PluginType
from ferrotrack.core.plugins.framework import patch_holders
from ferrotrack.core.plugins.metric_info import metric_info


class Model:
    """The library a framework plugin patches."""

    calls = 0

    def step(self, x: float) -> float:
        Model.calls += 1
        return x * 2


ORIGINAL = Model.__dict__["step"]


class Capture(FrameworkPlugin):
    """Logs every ``Model.step`` argument as ``model/x``."""

    installs = 0

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="capture", type=PluginType.FRAMEWORK)

    def install(self) -> None:
        Capture.installs += 1
        original = Model.step

        def step(model: Model, x: float) -> float:
            self.emit(MetricData("model/x", x, source="capture", metadata={"unit": "x"}))
            return original(model, x)

        self.patch(Model, "step", step)


@pytest.fixture(autouse=True)
def fresh() -> None:
    Capture.installs = 0
    Model.calls = 0
    assert Model.__dict__["step"] is ORIGINAL


def values(run: ft.Run) -> list[float]:
    frame = ft.metrics(runs=[run.run_id]).collect()
    return [float(v) for v in frame["value"].to_list()]


def test_two_runs_in_a_row_patch_and_restore_each_time(root: Path) -> None:
    for value in (1.0, 2.0):
        plugin = Capture()
        with ft.start_run(f"run-{value}") as run:
            plugin.start()
            assert Model().step(value) == value * 2
            plugin.stop()
            assert Model.__dict__["step"] is ORIGINAL
        assert values(run) == [value]
    assert Capture.installs == 2
    assert metric_info(run.run_dir)["model/x"] == {
        "type": "scalar",
        "source": "capture",
        "metadata": {"unit": "x"},
    }


def test_nested_runs_share_one_patch_and_log_to_the_active_run(root: Path) -> None:
    """The inner run's plugin finds the patch in place (no second wrapper); a call goes to
    the run active at that moment, also through the outer plugin's wrapper."""
    outer_plugin, inner_plugin = Capture(), Capture()
    with ft.start_run("outer") as outer:
        outer_plugin.start()
        patched = Model.__dict__["step"]
        Model().step(1.0)
        with ft.start_run("inner") as inner:
            inner_plugin.start()
            assert Model.__dict__["step"] is patched  # not wrapped twice
            assert patch_holders(Capture) == 2
            Model().step(2.0)
            inner_plugin.stop()
            assert Model.__dict__["step"] is patched  # the outer run still holds it
        Model().step(3.0)  # the inner run ended: the outer one is active again
        outer_plugin.stop()
    assert Model.__dict__["step"] is ORIGINAL
    assert patch_holders(Capture) == 0
    assert Capture.installs == 1
    assert Model.calls == 3  # each call ran the library once
    assert values(outer) == [1.0, 3.0]
    assert values(inner) == [2.0]


def test_stop_restores_inherited_and_missing_attributes_exactly() -> None:
    class Base:
        def hook(self) -> str:
            return "base"

    class Child(Base):
        pass

    class Patcher(FrameworkPlugin):
        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="patcher", type=PluginType.FRAMEWORK)

        def install(self) -> None:
            self.patch(Child, "hook", lambda s: "patched")
            self.patch(Child, "added", 1)

    first, second = Patcher(), Patcher()
    first.start()
    second.start()
    assert Child().hook() == "patched"
    first.stop()
    assert Child().hook() == "patched"
    second.stop()
    assert "hook" not in Child.__dict__  # inherited again, not copied down
    assert Child.hook is Base.hook
    assert not hasattr(Child, "added")
    second.stop()  # twice is harmless
    assert Child.hook is Base.hook


def test_values_without_an_active_run_are_counted_as_dropped(root: Path) -> None:
    plugin = Capture()
    plugin.start()
    try:
        Model().step(1.0)
    finally:
        plugin.stop()
    assert plugin.dropped == 1
    assert plugin.get_status()["dropped"] == 1


def test_an_install_that_raises_leaves_nothing_patched() -> None:
    class Half(FrameworkPlugin):
        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="half", type=PluginType.FRAMEWORK)

        def install(self) -> None:
            self.patch(Model, "step", lambda s, x: x)
            raise RuntimeError("second patch failed")

    plugin = Half()
    with pytest.raises(RuntimeError, match="second patch failed"):
        plugin.start()
    assert Model.__dict__["step"] is ORIGINAL
    assert patch_holders(Half) == 0
