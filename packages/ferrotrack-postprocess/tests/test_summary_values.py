"""``summary``: final, min and max of each metric, checked against numpy over the data logged."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
from postprocess_fixtures import StubModelRun, logged_run, model_with_run

from ferrotrack.postprocess.summary import SummaryPostprocessor


def _expected(values: np.ndarray) -> dict[str, object]:
    finite = values[~np.isnan(values)]
    return {
        "final": float(values[-1]),
        "final_step": len(values) - 1,
        "min": float(finite.min()) if finite.size else None,
        "max": float(finite.max()) if finite.size else None,
        "count": len(values),
        "nan_count": int(np.isnan(values).sum()),
    }


def _same(got: dict[str, object], want: dict[str, object]) -> bool:
    def eq(a: object, b: object) -> bool:
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
            return math.isnan(b)
        return a == b

    return got.keys() == want.keys() and all(eq(got[k], want[k]) for k in got)


def test_tracked_run_summary_matches_numpy(root: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    loss = rng.normal(size=5_000)
    loss[[3, 900]] = np.nan
    curves = {"train/loss": loss, "val/acc": rng.uniform(size=300), "lr": np.full(10, 1e-3)}
    model = model_with_run(tmp_path, curves)
    result = SummaryPostprocessor().process(model)
    assert result["success"] is True, result
    run_id = model.run.run_id if model.run else ""
    assert result["runs"] == [run_id]
    got = result["metrics"][run_id]
    assert sorted(got) == sorted(curves)
    for name, values in curves.items():
        assert _same(got[name], _expected(values)), (name, got[name])


def test_parquet_file_holds_the_same_table(root: Path, tmp_path: Path) -> None:
    model = model_with_run(tmp_path, {"a": np.arange(5.0), "b": np.array([2.0, -1.0, 4.0])})
    result = SummaryPostprocessor().process(model)
    path = Path(result["path"])
    assert path == model.folder / "postprocess" / "summary" / "summary.parquet"
    table = pl.read_parquet(path)
    assert table.columns == [
        "experiment", "run_id", "name", "count", "nan_count", "final", "final_step", "min", "max"
    ]  # fmt: skip
    rows = {r["name"]: r for r in table.iter_rows(named=True)}
    assert rows["b"]["final"] == 4.0
    assert rows["b"]["min"] == -1.0
    assert rows["b"]["max"] == 4.0
    assert rows["a"]["count"] == 5
    assert rows["a"]["experiment"] == "model"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_outputs_are_listed_without_processors_files(root: Path, tmp_path: Path) -> None:
    model = model_with_run(tmp_path, {"a": np.arange(3.0)})
    (model.folder / "sub").mkdir()
    (model.folder / "sub" / "f.txt").write_text("hello")
    SummaryPostprocessor().process(model)  # writes postprocess/summary/ first
    outputs = SummaryPostprocessor().process(model)["outputs"]
    assert outputs == [
        {"path": "input.txt", "bytes": 10},
        {"path": "result.nc", "bytes": 64},
        {"path": "sub/f.txt", "bytes": 5},
    ]


def test_outputs_are_written_beside_the_summary(root: Path, tmp_path: Path) -> None:
    model = model_with_run(tmp_path, {"a": np.arange(3.0)})
    result = SummaryPostprocessor().process(model)
    path = Path(result["outputs_path"])
    assert path == model.folder / "postprocess" / "summary" / "outputs.parquet"
    table = pl.read_parquet(path)
    assert table.schema == pl.Schema({"path": pl.String, "bytes": pl.Int64})
    assert table.rows(named=True) == result["outputs"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["outputs.parquet", "summary.parquet"]


def test_no_outputs_is_an_empty_typed_file(root: Path, tmp_path: Path) -> None:
    run = logged_run("bare", {"a": np.arange(3.0)})
    model = StubModelRun("never-generated", tmp_path / "out", run)
    result = SummaryPostprocessor().process(model, dest=tmp_path / "s")
    assert result["outputs"] == []
    table = pl.read_parquet(result["outputs_path"])
    assert (table.height, table.columns) == (0, ["path", "bytes"])


def test_all_nan_metric_has_no_extremes(root: Path, tmp_path: Path) -> None:
    model = model_with_run(tmp_path, {"broken": np.full(4, np.nan)})
    stats = next(iter(SummaryPostprocessor().process(model)["metrics"].values()))["broken"]
    assert stats["min"] is None
    assert stats["max"] is None
    assert math.isnan(stats["final"])
    assert stats["nan_count"] == 4


def test_several_runs_by_id_and_by_experiment(root: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = {f"r{i}": rng.normal(size=200 + i) for i in range(3)}
    runs = {k: logged_run(k, {"loss": v}, experiment="sweep") for k, v in data.items()}
    logged_run("elsewhere", {"loss": np.ones(3)}, experiment="other")
    model = StubModelRun("sweep-summary", tmp_path / "out")  # untracked: runs chosen by hand

    by_ids = SummaryPostprocessor().process(model, runs=[runs["r2"].run_id, "r0"])
    assert by_ids["success"] is True, by_ids
    assert by_ids["runs"] == [runs["r2"].run_id, runs["r0"].run_id]
    for key in ("r2", "r0"):
        got = by_ids["metrics"][runs[key].run_id]["loss"]
        assert _same(got, _expected(data[key]))

    by_experiment = SummaryPostprocessor().process(model, experiment="sweep")
    assert sorted(by_experiment["runs"]) == sorted(r.run_id for r in runs.values())
    table = pl.read_parquet(by_experiment["path"])
    assert table.height == 3
    assert set(table["experiment"]) == {"sweep"}


def test_unknown_run_or_empty_experiment_fail_with_reason(root: Path, tmp_path: Path) -> None:
    model = StubModelRun("m", tmp_path / "out")
    unknown = SummaryPostprocessor().process(model, runs=["no-such-run"])
    assert unknown["success"] is False
    assert unknown["error"].startswith("RunNotFoundError")
    assert "no-such-run" in unknown["message"]
    empty = SummaryPostprocessor().process(model, experiment="nothing-here")
    assert empty["success"] is False
    assert "experiment 'nothing-here' has no runs" in empty["message"]
    untracked = SummaryPostprocessor().process(model)
    assert untracked["success"] is False
    assert "has no tracked run" in untracked["message"]
