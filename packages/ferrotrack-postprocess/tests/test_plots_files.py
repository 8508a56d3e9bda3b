"""``plots``: one valid image per metric and format, several runs overlaid with a legend."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from postprocess_fixtures import StubModelRun, logged_run, model_with_run

import ferrotrack.core as ft
from ferrotrack.core.errors import MissingDependencyError
from ferrotrack.core.store.catalog import RunRef
from ferrotrack.postprocess.plots import PlotsPostprocessor, curves, file_stem
from ferrotrack.postprocess.selection import Selection


def test_one_png_per_metric(root: Path, tmp_path: Path) -> None:
    model = model_with_run(
        tmp_path, {"train/loss": np.linspace(1, 0, 50), "val/acc": np.linspace(0, 1, 20)}
    )
    result = PlotsPostprocessor().process(model, dpi=50)
    assert result["success"] is True, result
    folder = model.folder / "postprocess" / "plots"
    assert result["plots"] == {
        "train/loss": [str(folder / "train_loss.png")],
        "val/acc": [str(folder / "val_acc.png")],
    }
    assert sorted(p.name for p in folder.iterdir()) == ["train_loss.png", "val_acc.png"]
    for path in result["files"]:
        image = imread(path)
        assert image.shape == (225, 400, 4)  # 8 x 4.5 inches at 50 dpi, RGBA
        assert image[..., :3].std() > 0.01  # something is drawn


def test_overlaid_runs_have_a_legend_entry_each(root: Path, tmp_path: Path) -> None:
    first = logged_run("lr=0.1", {"loss": np.linspace(1, 0.2, 100)}, experiment="sweep")
    second = logged_run("lr=0.01", {"loss": np.linspace(1, 0.5, 80)}, experiment="sweep")
    model = StubModelRun("sweep-plots", tmp_path / "out")
    result = PlotsPostprocessor().process(model, experiment="sweep", formats=["png", "svg"])
    assert result["success"] is True, result
    assert result["runs"] == sorted([first.run_id, second.run_id])
    assert sorted(result["labels"]) == ["lr=0.01", "lr=0.1"]
    png, svg = result["plots"]["loss"]
    assert imread(png).ndim == 3
    text = Path(svg).read_text()
    assert text.startswith("<?xml")
    assert "</svg>" in text
    for label in ("lr=0.1", "lr=0.01"):  # matplotlib's SVG keeps each text as a comment
        assert f"<!-- {label} -->" in text


def test_same_names_are_told_apart_by_id(root: Path, tmp_path: Path) -> None:
    a = logged_run("same", {"x": np.arange(5.0)}, experiment="e")
    b = logged_run("same", {"x": np.arange(6.0)}, experiment="e")
    result = PlotsPostprocessor().process(
        StubModelRun("m", tmp_path / "out"), runs=[a.run_id, b.run_id], formats=["svg"]
    )
    assert result["labels"] == [f"same ({a.run_id})", f"same ({b.run_id})"]
    text = Path(result["files"][0]).read_text()
    assert f"<!-- same ({b.run_id}) -->" in text


def test_curves_are_downsampled_to_max_points(root: Path) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=20_000)
    values[12_345] = 100.0  # a spike must survive the downsampling
    run = logged_run("long", {"noise": values, "short": np.arange(10.0)})
    selection = Selection(None, (_ref(run),))
    data = curves(selection, None, 400)
    noise = data.filter(data["name"] == "noise")
    assert 100 < noise.height <= 400
    assert noise["value"].max() == 100.0
    assert noise["step"].is_sorted()
    assert data.filter(data["name"] == "short").height == 10  # short curves kept whole


def test_file_names_stay_unique(root: Path) -> None:
    taken: set[str] = set()
    assert [file_stem(n, taken) for n in ["a/b", "a_b", "a b", "..", "é"]] == [
        "a_b",
        "a_b-2",
        "a_b-3",
        "metric",
        "metric-2",
    ]


def test_bad_format_is_named(root: Path, tmp_path: Path) -> None:
    model = StubModelRun("m", tmp_path)
    result = PlotsPostprocessor().process(model, formats=["gif"], max_points=2)
    assert result["success"] is False
    assert "formats.0: Input should be 'png' or 'svg'" in result["message"]
    assert "max_points: Input should be greater than or equal to 4" in result["message"]


def test_missing_matplotlib_names_the_extra(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = model_with_run(tmp_path, {"a": np.arange(3.0)})
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # what an absent install looks like
    with pytest.raises(
        MissingDependencyError, match=r"pip install ferrotrack-postprocess\[plots\]"
    ):
        PlotsPostprocessor().process(model)


def _ref(run: ft.Run) -> RunRef:
    return RunRef(run.experiment, run.run_id, str(run.run_dir))
