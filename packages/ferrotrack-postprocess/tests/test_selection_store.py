"""``root=`` with a tracked run: summary, plots and export read the same runs (those the
selection chose, from their own folders), never a different store's points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from postprocess_fixtures import model_with_run

import ferrotrack.core as ft
from ferrotrack.postprocess.export import ExportPostprocessor, read_points
from ferrotrack.postprocess.plots import PlotsPostprocessor
from ferrotrack.postprocess.summary import SummaryPostprocessor


@pytest.fixture
def other_store(tmp_path: Path) -> Path:
    """A second store holding a run of its own (other points, same metric name)."""
    other = tmp_path / "other-store"
    with ft.start_run("elsewhere", experiment="model", root=other) as run:
        run.log_array("loss", np.full(7, 5.0))
    return other


def test_root_with_the_tracked_run_reads_the_tracked_runs_points(
    root: Path, tmp_path: Path, other_store: Path
) -> None:
    model = model_with_run(tmp_path, {"loss": np.linspace(1, 0, 4)})
    assert model.run is not None
    run_id = model.run.run_id

    summary = SummaryPostprocessor().process(model, root=other_store)
    export = ExportPostprocessor().process(model, root=other_store, dest=tmp_path / "e")
    plots = PlotsPostprocessor().process(model, root=other_store, dest=tmp_path / "p")
    for result in (summary, export, plots):
        assert result["success"] is True, result
        assert result["runs"] == [run_id]

    assert summary["metrics"][run_id]["loss"]["count"] == 4
    points = read_points(export["files"]["points"])
    assert points["run_id"].to_list() == [run_id] * 4
    assert points["value"].to_list() == pytest.approx([1, 2 / 3, 1 / 3, 0])
    assert list(plots["plots"]) == ["loss"]
