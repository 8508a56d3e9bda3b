"""Failures of every processor: a result with ``success: False`` and the reason, never an
exception, and the run's data as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from postprocess_fixtures import StubModelRun, model_with_run

import ferrotrack.core as ft
from ferrotrack.core.plugins.execution import get_execution_plugin
from ferrotrack.postprocess.export import read_points

PROCESSORS = ["noop", "summary", "plots", "export"]


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("name", ["summary", "plots", "export"])
def test_unwritable_dest_fails_and_leaves_the_run_intact(
    root: Path, tmp_path: Path, name: str
) -> None:
    model = model_with_run(tmp_path, {"loss": np.linspace(1, 0, 100)})
    assert model.run is not None
    before = _fingerprint(model.run.run_dir)
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    result = get_execution_plugin("postprocess", name).process(model, dest=blocker / "sub")
    assert result["success"] is False
    assert result["error"].startswith(("NotADirectoryError", "FileExistsError")), result
    assert str(blocker) in result["message"]
    assert _fingerprint(model.run.run_dir) == before
    assert ft.metrics(runs=[model.run.run_id]).collect().height == 100


def test_export_failing_part_way_keeps_the_previous_files(root: Path, tmp_path: Path) -> None:
    """The points file is moved into place, then the params file cannot be (a folder has its
    name): the points file is put back as it was and no temporary file is left."""
    model = model_with_run(tmp_path, {"loss": np.arange(3.0)})
    dest = tmp_path / "exp"
    first = get_execution_plugin("postprocess", "export").process(model, dest=dest, format="csv")
    assert first["success"] is True
    old_points = (dest / "points.csv").read_bytes()
    (dest / "params.csv").unlink()
    (dest / "params.csv").mkdir()
    assert model.run is not None
    with ft.start_run(run_id=model.run.run_id, experiment="model", resume=True) as run:
        run.log("loss", 9.0, 3)
    second = get_execution_plugin("postprocess", "export").process(model, dest=dest, format="csv")
    assert second["success"] is False
    assert second["error"].startswith("IsADirectoryError"), second
    assert (dest / "points.csv").read_bytes() == old_points
    assert read_points(dest / "points.csv").height == 3
    assert sorted(p.name for p in dest.iterdir()) == ["params.csv", "points.csv"]


@pytest.mark.parametrize("name", PROCESSORS)
def test_unknown_argument_is_named_with_the_known_ones(
    root: Path, tmp_path: Path, name: str
) -> None:
    model = StubModelRun("m", tmp_path)
    result = get_execution_plugin("postprocess", name).process(model, create_plotz=True)
    assert result == {
        "success": False,
        "processor": name,
        "run_id": "m",
        "error": "invalid arguments",
        "message": result["message"],
    }
    assert result["message"].startswith(f"{name}: invalid arguments: create_plotz: unknown")
    assert "(known: " in result["message"]


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        ("noop", {"output_dir": 3}, "output_dir"),
        ("summary", {"runs": "abc"}, "runs"),
        ("plots", {"dpi": 7.5}, "dpi"),
        ("export", {"format": "xlsx"}, "format"),
    ],
)
def test_wrong_type_is_named(
    root: Path, tmp_path: Path, name: str, kwargs: dict[str, Any], field: str
) -> None:
    result = get_execution_plugin("postprocess", name).process(
        StubModelRun("m", tmp_path), **kwargs
    )
    assert result["success"] is False
    assert result["error"] == "invalid arguments"
    assert f": {field}: " in result["message"], result["message"]


@pytest.mark.parametrize("name", PROCESSORS)
def test_not_a_model_run_is_refused(root: Path, name: str) -> None:
    result = get_execution_plugin("postprocess", name).process(object())
    assert result["success"] is False
    assert result["error"] == "invalid arguments"
    assert "model_run: expected an object with a non-empty str run_id" in result["message"]


@pytest.mark.parametrize("name", ["plots", "export"])
def test_a_metric_no_run_logged_is_named(root: Path, tmp_path: Path, name: str) -> None:
    model = model_with_run(tmp_path, {"loss": np.arange(3.0)})
    result = get_execution_plugin("postprocess", name).process(model, names=["loss", "los"])
    assert result["success"] is False
    assert result["error"] == (
        "MetricNotFoundError: no point of metric(s) 'los' in the chosen run(s)"
    )
    assert not (model.folder / "postprocess").exists()  # checked before writing anything
