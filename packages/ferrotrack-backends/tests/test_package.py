"""The package skeleton: version, entry point, and an import that loads nothing heavy."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points, version

import ferrotrack.backends
from ferrotrack.backends.jsonl import JsonlBackend
from ferrotrack.core.plugins import PluginManager, PluginType


def test_version_comes_from_the_distribution() -> None:
    assert ferrotrack.backends.__version__ == version("ferrotrack-backends")


def test_jsonl_is_found_by_its_entry_point() -> None:
    (point,) = [e for e in entry_points(group="ferrotrack.backends") if e.name == "jsonl"]
    assert point.load() is JsonlBackend
    info = PluginManager().info("jsonl", PluginType.BACKEND)
    assert info.available
    assert info.package == "ferrotrack-backends"


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import sys, ferrotrack.backends;"
        "print(sorted(m for m in ('pyarrow', 'polars', 'pydantic', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
