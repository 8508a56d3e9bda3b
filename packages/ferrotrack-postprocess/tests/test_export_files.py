"""``export``: file names and places, several runs, a metric filter, the CSV text."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from postprocess_fixtures import StubModelRun, logged_run, model_with_run

import ferrotrack.core as ft
from ferrotrack.postprocess.export import ExportPostprocessor, read_params, read_points


def test_default_place_and_row_counts(root: Path, tmp_path: Path) -> None:
    model = model_with_run(
        tmp_path, {"loss": np.arange(4.0), "acc": np.ones(2)}, params={"optim": {"lr": 0.1}}
    )
    result = ExportPostprocessor().process(model)
    folder = model.folder / "postprocess" / "export"
    assert result["success"] is True, result
    assert result["format"] == "parquet"
    assert result["files"] == {
        "points": str(folder / "points.parquet"),
        "params": str(folder / "params.parquet"),
    }
    assert result["rows"] == {"points": 6, "params": 1}
    assert read_params(folder / "params.parquet").row(0) == (model.run.run_id, "optim.lr", "0.1")  # type: ignore[union-attr]


def test_csv_is_plain_text_with_a_header(root: Path, tmp_path: Path) -> None:
    model = model_with_run(tmp_path, {"loss": np.array([0.5, 0.25])}, params={"opt": "adam"})
    dest = tmp_path / "exported"
    result = ExportPostprocessor().process(model, format="csv", dest=dest)
    assert result["files"]["points"] == str(dest / "points.csv")
    with open(dest / "points.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["run_id", "rank", "name", "step", "value", "timestamp"]
    assert [r[1:5] for r in rows[1:]] == [["0", "loss", "0", "0.5"], ["0", "loss", "1", "0.25"]]
    assert rows[1][5].startswith("20")  # ISO 8601
    with open(dest / "params.csv", newline="") as f:
        assert list(csv.reader(f))[1][1:] == ["opt", '"adam"']  # values are JSON


def test_several_runs_and_a_metric_filter(root: Path, tmp_path: Path) -> None:
    a = logged_run("a", {"loss": np.arange(3.0), "acc": np.ones(3)}, experiment="s")
    b = logged_run("b", {"loss": np.arange(5.0)}, experiment="s", params={"seed": 1})
    model = StubModelRun("s-export", tmp_path / "out")
    result = ExportPostprocessor().process(model, experiment="s", names=["loss"])
    assert result["rows"] == {"points": 8, "params": 1}
    points = read_points(result["files"]["points"])
    assert points.group_by("run_id").len().sort("run_id").rows() == sorted(
        [(a.run_id, 3), (b.run_id, 5)]
    )
    assert set(points["name"]) == {"loss"}


def test_a_second_export_replaces_the_first(root: Path, tmp_path: Path) -> None:
    model = model_with_run(tmp_path, {"loss": np.arange(3.0)})
    first = ExportPostprocessor().process(model)
    second = ExportPostprocessor().process(model, names=["loss"])
    assert first["files"] == second["files"]
    assert read_points(second["files"]["points"]).height == 3
    folder = Path(second["files"]["points"]).parent
    assert sorted(p.name for p in folder.iterdir()) == ["params.parquet", "points.parquet"]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_two_ranks_of_one_run_round_trip_apart(root: Path, tmp_path: Path, fmt: str) -> None:
    """A child process's rank logs the same names as rank 0: the rank column tells them
    apart, and each rank's points come back as logged."""
    with ft.start_run("ddp", experiment="ranks") as run:
        run.log_array("loss", np.array([3.0, 2.0, 1.0]))
        child = ft.attach_run(run.run_dir, rank=1)
        child.log_array("loss", np.array([30.0, 20.0, 10.0]))
        child.log("lr", 0.5, 0)
        child.finish()
    model = StubModelRun("ddp-1", tmp_path / "out", run)
    result = ExportPostprocessor().process(model, format=fmt)
    assert result["success"] is True, result
    points = read_points(result["files"]["points"])
    assert points.columns == ["run_id", "rank", "name", "step", "value", "timestamp"]
    assert points.schema["rank"] == pl.Int32
    by_rank = {
        (rank, name): list(zip(part["step"], part["value"], strict=True))
        for (rank, name), part in points.group_by("rank", "name", maintain_order=True)
    }
    assert by_rank == {
        (0, "loss"): [(0, 3.0), (1, 2.0), (2, 1.0)],
        (1, "loss"): [(0, 30.0), (1, 20.0), (2, 10.0)],
        (1, "lr"): [(0, 0.5)],
    }
