"""Discovery: unknown packages found, broken ones isolated, missing dependencies explained."""

from __future__ import annotations

import importlib.metadata as im
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from ferrotrack.core.errors import InvalidArgumentError, InvalidValueError, MissingDependencyError
from ferrotrack.core.plugins import (
    BackendPlugin,
    PluginManager,
    PluginMetadata,
    PluginType,
    PluginWarning,
    discovery,
)


def fake_distribution(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    name: str,
    modules: dict[str, str],
    entry_points: str,
    extras: list[str],
) -> None:
    """A distribution on sys.path, found by importlib.metadata like an installed one."""
    for module, code in modules.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(code))
    info = tmp_path / f"{name.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    meta = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.2.3"]
    meta += [f"Provides-Extra: {e}" for e in extras]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    monkeypatch.syspath_prepend(str(tmp_path))


PLUGINS = """
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

class Needy(BackendPlugin):
    @classmethod
    def get_metadata(cls):
        return PluginMetadata(name="needy", type=PluginType.BACKEND,
                              dependencies=["ferrotrack_no_such_module_xyz"])
    def handle_metric(self, metric):
        pass

class Fine(BackendPlugin):
    @classmethod
    def get_metadata(cls):
        return PluginMetadata(name="fine", type=PluginType.BACKEND, version="2.0")
    def handle_metric(self, metric):
        pass
"""


@pytest.mark.usefixtures("fresh_discovery")
def test_missing_dependency_is_listed_with_the_exact_hint_and_raises_on_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_distribution(
        tmp_path,
        monkeypatch,
        name="acme-trackers",
        extras=["needy"],
        modules={"acme_plugins": PLUGINS, "acme_broken": "raise RuntimeError('boom at import')"},
        entry_points="""
            [ferrotrack.backends]
            needy = acme_plugins:Needy
            fine = acme_plugins:Fine
            broken = acme_broken:Thing
        """,
    )
    with pytest.warns(
        PluginWarning, match=r"'broken' from package 'acme-trackers'.*boom at import"
    ):
        listed = PluginManager().plugins(PluginType.BACKEND)
    pm = PluginManager()
    rows = {i.name: i for i in listed}
    needy = rows["needy"]
    assert not needy.available
    assert needy.install_hint == "pip install acme-trackers[needy]"
    assert needy.package == "acme-trackers"
    with pytest.raises(MissingDependencyError, match=r"pip install acme-trackers\[needy\]"):
        pm.create("needy", PluginType.BACKEND)
    assert not rows["broken"].available
    assert "boom at import" in (rows["broken"].reason or "")
    # the others are untouched
    assert rows["fine"].available
    assert rows["fine"].version == "2.0"
    assert pm.create("fine", PluginType.BACKEND).state == "initialized"


@pytest.mark.usefixtures("fresh_discovery")
def test_entry_point_extra_and_missing_import_at_module_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_distribution(
        tmp_path,
        monkeypatch,
        name="acme-two",
        extras=[],
        modules={"acme_two": "import ferrotrack_absent_sdk_abc\n"},
        entry_points="""
            [ferrotrack.collectors]
            cloud = acme_two:Cloud [cloudsdk]
        """,
    )
    info = PluginManager().info("cloud", PluginType.COLLECTOR)
    assert info.reason == "missing dependencies: ferrotrack_absent_sdk_abc"
    assert info.install_hint == "pip install acme-two[cloudsdk]"


@pytest.mark.usefixtures("fresh_discovery")
def test_discovery_is_cached_per_process_and_per_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[tuple[PluginType, str]] = []
    real = discovery._load

    def counting(ep: im.EntryPoint, kind: PluginType) -> Any:
        loaded.append((kind, ep.name))
        return real(ep, kind)

    monkeypatch.setattr(discovery, "_load", counting)
    PluginManager().plugins(PluginType.BACKEND)
    PluginManager().info("example_jsonl", PluginType.BACKEND)
    assert {k for k, _ in loaded} == {PluginType.BACKEND}  # no other group was imported
    assert loaded.count((PluginType.BACKEND, "example_jsonl")) == 1  # cached
    assert discovery.loaded_kinds() == {PluginType.BACKEND}
    collectors = set(discovery.discover("collector"))
    assert (PluginType.COLLECTOR, "example_counter") in collectors
    assert {kind for kind, _ in collectors} == {PluginType.COLLECTOR}
    assert discovery.loaded_kinds() == {PluginType.BACKEND, PluginType.COLLECTOR}
    everything = PluginManager().plugins()
    assert {i.kind for i in everything} >= {PluginType.FRAMEWORK, PluginType.PROCESSOR}
    assert discovery.loaded_kinds() == set(PluginType)
    assert len(loaded) == len(set(loaded))  # each kind loaded once
    discovery.discover(PluginType.BACKEND, refresh=True)
    assert loaded.count((PluginType.BACKEND, "example_jsonl")) == 2
    assert discovery.loaded_kinds() == {PluginType.BACKEND}  # a refresh forgets the others
    with pytest.raises(InvalidArgumentError, match="plugin kind 'exporter': expected one of"):
        discovery.discover("exporter")


def test_start_run_with_a_backend_imports_no_other_plugin_group(tmp_path: Path) -> None:
    """In a fresh interpreter: the framework and run plugins of the example distribution
    are never imported by a run that asks only for a backend."""
    code = textwrap.dedent(
        """
        import sys
        import ferrotrack.core as ft
        from ferrotrack.core.plugins import PluginType, discovery
        from ferrotrack_example_plugin import sentinel

        with ft.start_run("b", backends=["example_jsonl"]) as run:
            run.log("loss", 1.0, 0)
        assert discovery.loaded_kinds() == {PluginType.BACKEND}, discovery.loaded_kinds()
        assert sentinel.imported == [], sentinel.imported
        assert "ferrotrack_example_plugin.backend" in sys.modules
        for module in ("framework", "execution", "collector", "processor"):
            assert f"ferrotrack_example_plugin.{module}" not in sys.modules, module
        # asked for, the framework group is imported, and the sentinel sees it
        assert "example_quiet" in {i.name for i in ft.PluginManager().plugins(PluginType.FRAMEWORK)}
        assert sentinel.imported == ["ferrotrack_example_plugin.framework"], sentinel.imported
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTRACK_")}
    env["FERROTRACK_ROOT"] = str(tmp_path / "store")
    env["FERROTRACK_BACKEND_CONFIGS__EXAMPLE_JSONL__PATH"] = str(tmp_path / "out.jsonl")
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert (tmp_path / "out.jsonl").read_text().count('"loss"') == 1


@pytest.mark.usefixtures("fresh_discovery")
def test_plugin_declared_in_the_wrong_group_is_isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    ep = im.EntryPoint(
        "misfiled", "ferrotrack.core.plugins.processors:RenameProcessor", "ferrotrack.backends"
    )
    monkeypatch.setattr(
        discovery,
        "_entry_points",
        lambda kinds: {k: [ep] if k is PluginType.BACKEND else [] for k in kinds},
    )
    with pytest.warns(PluginWarning, match="misfiled"):
        info = PluginManager().info("misfiled")
    assert not info.available
    assert "processor plugin but is declared in ferrotrack.backends" in (info.reason or "")


class _Registered(BackendPlugin):
    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(
            name="registered", type=PluginType.BACKEND, dependencies=["ferrotrack_missing_mod_q"]
        )

    def handle_metric(self, metric: Any) -> None:
        pass


def test_register_plugin_checks_its_argument_and_dependencies() -> None:
    pm = PluginManager(use_entry_points=False)
    with pytest.raises(InvalidValueError, match="PluginBase"):
        pm.register_plugin(object())  # type: ignore[arg-type]
    info = pm.register_plugin(_Registered)
    assert info.install_hint == "pip install ferrotrack_missing_mod_q"
    with pytest.raises(MissingDependencyError):
        pm.create("registered")
    with pytest.raises(InvalidArgumentError, match="no backend plugin named 'nope'"):
        pm.create("nope", PluginType.BACKEND)
    assert "nope" not in sys.modules


MACHINE_PLUGINS = """
from ferrotrack.core.plugins import CollectorPlugin, PluginMetadata, PluginType

class NoDevice(CollectorPlugin):
    @classmethod
    def get_metadata(cls):
        return PluginMetadata(name="nodevice", type=PluginType.COLLECTOR)
    @classmethod
    def unavailable_reason(cls):
        return "no device driver on this machine"
    def initialize(self, config=None):
        raise RuntimeError("no device driver on this machine")
    def collect(self):
        return []

class Crashy(NoDevice):
    @classmethod
    def unavailable_reason(cls):
        raise OSError("probe exploded")
"""


@pytest.mark.usefixtures("fresh_discovery")
def test_a_plugin_unusable_on_this_machine_is_listed_with_its_reason_and_isolated_on_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_distribution(
        tmp_path,
        monkeypatch,
        name="acme-devices",
        extras=[],
        modules={"acme_devices": MACHINE_PLUGINS},
        entry_points="""
            [ferrotrack.collectors]
            nodevice = acme_devices:NoDevice
            crashy = acme_devices:Crashy
        """,
    )
    rows = {i.name: i for i in PluginManager().plugins(PluginType.COLLECTOR)}
    assert rows["nodevice"].reason == "no device driver on this machine"
    assert rows["nodevice"].install_hint is None
    assert "probe exploded" in (rows["crashy"].reason or "")
    # asking for it anyway: set aside with a warning naming it, never an exception
    pm = PluginManager()
    with pytest.warns(PluginWarning, match="nodevice"):
        assert pm.add("nodevice", PluginType.COLLECTOR) is None
