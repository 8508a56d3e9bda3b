"""``plots``: one valid image per metric and format, several runs overlaid with a legend."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb
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
        assert _line_pixels(path) > _line_pixels(_empty_axes(tmp_path, 50)) + 50


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
    assert data.columns == ["run_id", "rank", "name", "step", "value"]
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


def test_ranks_of_one_run_are_lines_of_their_own(root: Path, tmp_path: Path) -> None:
    """Two processes of one run log ``loss`` over the same steps: two lines, told apart by
    rank in the legend, not one line zig-zagging between them."""
    with ft.start_run("ddp", experiment="ranks") as run:
        run.log_array("loss", np.array([3.0, 2.0, 1.0, 0.5]))
        run.log_array("acc", np.array([0.1, 0.2, 0.3, 0.4]))
        child = ft.attach_run(run.run_dir, rank=1)
        child.log_array("loss", np.array([30.0, 20.0, 10.0, 5.0]))
        child.finish()
    model = StubModelRun("ddp-1", tmp_path / "out", run)
    result = PlotsPostprocessor().process(model, formats=["svg"])
    assert result["success"] is True, result
    assert result["labels"] == ["ddp"]
    assert result["points_drawn"] == {
        "acc": {"ddp": 4},  # one rank logged it: no rank in its label, no legend
        "loss": {"ddp (rank 0)": 4, "ddp (rank 1)": 4},
    }
    loss = Path(result["plots"]["loss"][0]).read_text()
    assert "<!-- ddp (rank 0) -->" in loss
    assert "<!-- ddp (rank 1) -->" in loss
    assert "<!-- ddp -->" not in Path(result["plots"]["acc"][0]).read_text()

    data = curves(Selection(None, (_ref(run),)), ["loss"], 100)
    for (rank,), part in data.group_by("rank"):
        assert part["step"].to_list() == [0, 1, 2, 3], rank


def test_one_run_with_two_ranks_and_another_run_all_get_legend_entries(
    root: Path, tmp_path: Path
) -> None:
    with ft.start_run("a", experiment="mix") as a:
        a.log("loss", 1.0, 0)
        child = ft.attach_run(a.run_dir, rank=1)
        child.log("loss", 2.0, 0)
        child.finish()
    b = logged_run("b", {"loss": np.arange(3.0)}, experiment="mix")
    result = PlotsPostprocessor().process(
        StubModelRun("m", tmp_path / "out"), runs=[a.run_id, b.run_id], formats=["svg"]
    )
    assert result["points_drawn"] == {"loss": {"a (rank 0)": 1, "a (rank 1)": 1, "b": 3}}
    text = Path(result["files"][0]).read_text()
    for label in ("a (rank 0)", "a (rank 1)", "b"):
        assert f"<!-- {label} -->" in text


def test_a_metric_of_one_point_is_visible(root: Path, tmp_path: Path) -> None:
    """What every ``ferrotrack.run`` execution logs: ``run/exit_code`` once, at step 0."""
    with ft.start_run("once", experiment="model") as run:
        run.log("run/exit_code", 0.0, 0)
        run.log("run/duration_s", 1.5, 0)
    result = PlotsPostprocessor().process(StubModelRun("m", tmp_path / "out", run))
    assert result["success"] is True, result
    assert result["points_drawn"] == {"run/duration_s": {"once": 1}, "run/exit_code": {"once": 1}}
    empty = _line_pixels(_empty_axes(tmp_path, 100))
    assert empty == 0  # the line colour is nowhere on an axes without a curve
    for path in result["files"]:
        assert _line_pixels(path) >= 10, path


def test_lone_points_between_gaps_are_visible(root: Path, tmp_path: Path) -> None:
    values = np.array([np.nan, 5.0, np.nan, np.inf, 7.0, np.nan, np.nan, 6.0])
    model = model_with_run(tmp_path, {"gappy": values})
    result = PlotsPostprocessor().process(model)
    assert result["points_drawn"] == {"gappy": {"baseline": 8}}
    # three lone finite points, a marker each (a line needs two neighbouring points)
    assert _line_pixels(result["files"][0]) >= 30


def test_curves_keep_gaps_and_finite_peaks_through_downsampling(root: Path) -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=20_000)
    values[5_000] = np.nan  # an isolated gap
    values[12_345] = np.inf  # in the same bucket as the finite peak next to it
    values[12_346] = 50.0
    values[15_000] = -np.inf
    values[15_001] = -50.0
    halves = np.where(np.arange(20_000) % 2 == 0, np.nan, 1.0)  # a gap every other point
    short = np.array([1.0, np.nan, np.nan, 2.0, np.inf])
    run = logged_run("long", {"noise": values, "halves": halves, "short": short})
    data = curves(Selection(None, (_ref(run),)), None, 400)

    noise = data.filter(data["name"] == "noise")
    assert 100 < noise.height <= 400
    assert noise["step"].is_sorted()
    kept = dict(zip(noise["step"], noise["value"], strict=True))
    assert np.isnan(kept[5_000])
    assert (kept[12_345], kept[12_346]) == (np.inf, 50.0)
    assert (kept[15_000], kept[15_001]) == (-np.inf, -50.0)
    finite = noise.filter(noise["value"].is_finite())["value"]
    assert (finite.max(), finite.min()) == (50.0, -50.0)

    gappy = data.filter(data["name"] == "halves")
    assert gappy.height <= 400
    assert gappy["value"].is_nan().sum() > 50  # the gaps are drawn as gaps
    assert data.filter(data["name"] == "short")["step"].to_list() == [0, 1, 2, 3, 4]


def test_no_metric_says_so(root: Path, tmp_path: Path) -> None:
    with ft.start_run("silent", experiment="model") as run:
        pass
    model = StubModelRun("m", tmp_path / "out", run)
    result = PlotsPostprocessor().process(model)
    assert result["success"] is True, result
    assert result["plots"] == {}
    assert "logged no metric" in result["message"]
    assert not (model.folder / "postprocess").exists()


def _line_pixels(path: Path | str) -> int:
    """Pixels of the first line's colour (matplotlib's ``C0``) in a PNG; text, axes and
    grid are black or grey."""
    image = imread(path)[..., :3]
    return int((np.abs(image - np.array(to_rgb("C0"))).max(axis=-1) < 0.15).sum())


def _empty_axes(tmp_path: Path, dpi: int) -> Path:
    """The figure ``plots`` draws, without a curve."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_title("metric")
    axes.grid(True, alpha=0.3)
    path = tmp_path / f"empty-{dpi}.png"
    figure.savefig(path)
    return path


def _ref(run: ft.Run) -> RunRef:
    return RunRef(run.experiment, run.run_id, str(run.run_dir))
