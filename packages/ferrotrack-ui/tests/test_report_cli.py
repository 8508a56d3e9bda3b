"""``ferrotrack report`` and the ``report`` postprocessor write a report holding the runs
asked for; a wrong run, experiment or argument is a clear error (a ``success: False``
result for the postprocessor)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from store_fixtures import failed_run, make_runs

import ferrotrack.core as ft
from ferrotrack.core.plugins.execution import load_execution_plugin
from ferrotrack.ui.report.bundle import read_embedded
from ferrotrack.ui.report.postprocessor import ReportPostprocessor

FERROTRACK = [sys.executable, "-m", "ferrotrack.core.cli"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FERROTRACK, *args], cwd=cwd, capture_output=True, text=True,
                          check=False, timeout=120)  # fmt: skip


def test_report_of_an_experiment_and_of_runs(root: Path, tmp_path: Path) -> None:
    runs = make_runs(root, 3, points=5000)
    other = make_runs(root, 1, experiment="other")
    failed = failed_run(root)
    done = cli("--root", str(root), "report", "--experiment", "exp", "-o", "out/r.html",
               "--points", "100", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(Path("out/r.html"))
    data = read_embedded((tmp_path / "out/r.html").read_text())
    assert {r["run_id"] for r in data["runs"]} == {*(r.run_id for r in runs), failed.run_id}
    assert data["experiments"] == {"experiments": [{"name": "exp", "runs": 4, "running": 0,
                                                    "failed": 1}]}  # fmt: skip
    loss = data["series"][runs[0].run_id]["train/loss"]
    assert loss["total"] == 5000
    assert loss["downsampled"] is True
    assert loss["returned"] <= 100
    assert data["details"][failed.run_id]["error"]

    done = cli("--root", str(root), "report", other[0].run_id, runs[1].run_id, "-o", "two.html",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = read_embedded((tmp_path / "two.html").read_text())
    assert [r["run_id"] for r in data["runs"]] == [other[0].run_id, runs[1].run_id]
    assert data["title"] == "2 run(s)"


def test_report_refuses_what_is_not_there(root: Path, tmp_path: Path) -> None:
    make_runs(root, 1)
    done = cli("--root", str(root), "report", "nope", "-o", "x.html", cwd=tmp_path)
    assert done.returncode != 0
    assert "nope" in done.stderr
    done = cli("--root", str(root), "report", "--experiment", "ghost", "-o", "x.html",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode != 0
    assert "ghost" in done.stderr
    done = cli("--root", str(tmp_path / "missing"), "report", "-o", "x.html", cwd=tmp_path)
    assert done.returncode != 0
    assert "does not exist" in done.stderr
    assert not (tmp_path / "x.html").exists()


@dataclass
class Model:
    """What a postprocessor is given (core's ModelRun protocol)."""

    run_id: str
    output_dir: str | os.PathLike[str]
    tracked_run: Any = None

    def generate(self) -> None:
        """Nothing to generate here."""


def test_postprocessor_writes_the_tracked_runs_report(root: Path, tmp_path: Path) -> None:
    assert load_execution_plugin("postprocess", "report") is ReportPostprocessor
    with ft.start_run("tracked", experiment="models", root=root) as run:
        run.log("loss", 0.5, step=0)
    make_runs(root, 2)
    model = Model("m1", tmp_path / "out", tracked_run=run)
    result = ReportPostprocessor().process(model)
    assert result["success"] is True, result
    path = tmp_path / "out/m1/postprocess/report/report.html"
    assert result["path"] == str(path)
    assert result["runs"] == [run.run_id]
    data = read_embedded(path.read_text())
    assert [r["name"] for r in data["runs"]] == ["tracked"]
    assert data["title"] == "model run m1"

    result = ReportPostprocessor().process(model, experiment="exp", path=tmp_path / "exp.html")
    assert result["success"] is True, result
    assert len(result["runs"]) == 2


@pytest.mark.parametrize(
    ("model", "kwargs", "error"),
    [
        (Model("m2", Path("out")), {}, "RunNotFoundError"),
        (Model("m2", Path("out")), {"colour": "red"}, "invalid arguments"),
        (Model("m2", Path("out")), {"points": 2}, "invalid arguments"),
        (Model("m2", Path("out")), {"runs": ["no-such-run"]}, "NotFound"),
        (object(), {}, "invalid arguments"),
    ],
)
def test_postprocessor_failures_are_results(
    root: Path, model: Any, kwargs: dict[str, Any], error: str
) -> None:
    make_runs(root, 1)
    result = ReportPostprocessor().process(model, **kwargs)
    assert result["success"] is False
    assert result["error"].startswith(error)
    assert result["message"]
