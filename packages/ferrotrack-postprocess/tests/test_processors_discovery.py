"""The processors are found by name through core's entry points, as a pipeline finds them.

Needs the distribution installed (``pip install --no-deps -e packages/ferrotrack-postprocess``)
so that its entry points exist.
"""

from __future__ import annotations

import importlib.metadata as im
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.execution import (
    PostprocessorPlugin,
    execution_plugin_names,
    get_execution_plugin,
    load_execution_plugin,
)
from ferrotrack.postprocess import (
    ExportPostprocessor,
    NoopPostprocessor,
    PlotsPostprocessor,
    SummaryPostprocessor,
)

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
CLASSES = {
    "noop": NoopPostprocessor,
    "summary": SummaryPostprocessor,
    "plots": PlotsPostprocessor,
    "export": ExportPostprocessor,
}


def test_installed_entry_points_match_pyproject() -> None:
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    group = declared["ferrotrack.postprocess"]
    installed = {
        ep.name: ep.value
        for ep in im.entry_points(group="ferrotrack.postprocess")
        if ep.dist is not None and ep.dist.metadata["Name"] == "ferrotrack-postprocess"
    }
    assert installed == group, "reinstall: pip install --no-deps -e packages/ferrotrack-postprocess"


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_is_found_by_name_and_ready(name: str) -> None:
    assert load_execution_plugin("postprocess", name) is CLASSES[name]
    plugin = get_execution_plugin("postprocessor", name)
    assert isinstance(plugin, PostprocessorPlugin)
    assert plugin.state == "initialized"
    meta = plugin.get_metadata()
    assert meta.name == name
    assert meta.version == "0.1.0"
    assert meta.describe()["config_schema"]["additionalProperties"] is False


def test_plots_metadata_names_its_extra() -> None:
    meta = PlotsPostprocessor.get_metadata()
    assert meta.dependencies == ["matplotlib"]
    assert meta.extra == "plots"


def test_unknown_name_lists_the_installed_ones() -> None:
    assert {"noop", "summary", "plots", "export"} <= set(execution_plugin_names("postprocess"))
    with pytest.raises(InvalidArgumentError) as err:
        get_execution_plugin("postprocess", "sumary")
    message = str(err.value)
    assert "no postprocess plugin named 'sumary'" in message
    for name in ("export", "noop", "plots", "summary"):
        assert name in message


def test_initialize_config_gives_defaults_that_process_overrides(
    root: Path, tmp_path: Path
) -> None:
    from postprocess_fixtures import StubModelRun

    plugin = NoopPostprocessor()
    plugin.initialize({"expect": ["a.txt"]})
    model = StubModelRun("m", tmp_path)
    model.generate()
    assert plugin.process(model)["missing"] == [str(model.folder / "a.txt")]
    assert plugin.process(model, expect=["input.txt"])["success"] is True
    with pytest.raises(InvalidArgumentError, match="expect"):
        NoopPostprocessor().initialize({"expect": 3})


def test_finding_them_imports_nothing_heavy() -> None:
    """Discovery and construction stay light: polars, numpy and matplotlib are imported
    when a processor runs, not when it is found."""
    code = (
        "import sys\n"
        "from ferrotrack.core.plugins.execution import get_execution_plugin\n"
        "for n in ('noop', 'summary', 'plots', 'export'):\n"
        "    get_execution_plugin('postprocess', n)\n"
        "heavy = ('polars', 'numpy', 'matplotlib', 'pyarrow')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_and_the_namespace_stays_shared() -> None:
    import ferrotrack
    import ferrotrack.postprocess as pp

    for name in pp.__all__:
        assert getattr(pp, name).__name__ == name
    assert ferrotrack.__file__ is None  # no ferrotrack/__init__.py shadows the siblings
