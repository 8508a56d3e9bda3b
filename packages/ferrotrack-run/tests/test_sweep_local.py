"""Sweeps on the local backend: one real process per point, each reading its config from a
rendered template and logging through ``ferrotrack.core.log``; the result table, the
concurrency limit, failing points, random search and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from run_fixtures import PY, processes_with, wait_for

import ferrotrack.core as ft
import ferrotrack.core.analysis as fa
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.run import ModelRun
from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.sweeps import Sweep, SweepSpecError, run_sweep, sweep

# Reads the point's settings from the rendered config.json, logs score = lr * depth at two
# steps (the final value is the second), records when it ran, fails when told to.
POINT = textwrap.dedent(
    """
    import json, os, sys, time
    import ferrotrack.core as ft
    c = json.load(open("config.json"))
    started = time.time()
    time.sleep(c.get("hold", 0))
    ft.log("score", c["lr"], 0)
    ft.log("score", c["lr"] * c["model"]["depth"], 1)
    with open(os.path.join(c["times"], os.path.basename(os.getcwd())), "w") as f:
        json.dump([started, time.time()], f)
    if c["model"]["depth"] == c.get("fail_depth"):
        sys.exit(3)
    """
)


def model_of(tmp_path: Path, **config: Any) -> ModelRun:
    times = tmp_path / "times"
    times.mkdir(exist_ok=True)
    return ModelRun(
        run_id="toy",
        experiment="sweeps",
        output_dir=tmp_path / "runs",
        config={"lr": 0.1, "model": {"depth": 1}, "times": str(times), **config},
        templates={"config.json": "{{ config | tojson }}"},
        command=[PY, "-c", POINT],
    )


def intervals(tmp_path: Path) -> list[tuple[float, float]]:
    return [tuple(json.loads(p.read_text())) for p in (tmp_path / "times").iterdir()]


@pytest.mark.slow
def test_a_grid_sweep_gives_one_row_per_point_with_params_and_final_metrics(
    root: Path, tmp_path: Path
) -> None:
    result = run_sweep(model_of(tmp_path), grid={"lr": [0.5, 0.25], "model.depth": [1, 2, 3]})

    assert isinstance(result, Sweep)
    frame = result.results
    assert frame.columns == [
        "point",
        "run_id",
        "model_run_id",
        "success",
        "status",
        "exit_code",
        "duration_s",
        "lr",
        "model.depth",
        "score",
    ]
    assert frame["point"].to_list() == list(range(6))
    assert frame["model_run_id"].to_list() == [f"toy-{i:03d}" for i in range(6)]
    assert frame["lr"].to_list() == [0.5, 0.5, 0.5, 0.25, 0.25, 0.25]
    assert frame["model.depth"].to_list() == [1, 2, 3, 1, 2, 3]
    assert frame["score"].to_list() == [0.5, 1.0, 1.5, 0.25, 0.5, 0.75]
    assert frame["success"].all()
    assert frame["status"].to_list() == ["finished"] * 6
    assert frame["exit_code"].to_list() == [0] * 6
    assert (frame["duration_s"] > 0).all()
    assert result.ok

    # The store says the same: the sweep run, parent of each point's run.
    table = fa.runs(root, experiment="sweeps")
    [top] = table.filter(pl.col("run_id") == result.run_id).iter_rows(named=True)
    assert top["status"] == "finished"
    assert top["tags"]["ferrotrack.sweep"] == result.run_id
    assert top["tags"]["ferrotrack.sweep_kind"] == "grid"
    assert top["params.sweep.grid.lr"] == [0.5, 0.25]
    assert (
        root / "experiment=sweeps" / f"run={result.run_id}" / "artifacts" / "sweep.parquet"
    ).is_file()
    points = table.filter(pl.col("parent") == result.run_id).sort("name")
    assert points["run_id"].sort().to_list() == frame["run_id"].sort().to_list()
    assert points["params.model.depth"].to_list() == [1, 2, 3, 1, 2, 3]
    assert [t["ferrotrack.sweep_point"] for t in points["tags"].to_list()] == [
        str(i) for i in range(6)
    ]
    # Each point's inputs were rendered into its own folder.
    rendered = json.loads((tmp_path / "runs" / "toy-004" / "config.json").read_text())
    assert (rendered["lr"], rendered["model"]["depth"]) == (0.25, 2)


@pytest.mark.slow
def test_at_most_max_concurrency_points_run_at_once(root: Path, tmp_path: Path) -> None:
    frame = sweep(
        model_of(tmp_path, hold=0.5), grid={"lr": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}, max_concurrency=2
    )

    assert frame["success"].all()
    spans = intervals(tmp_path)
    assert len(spans) == 6
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == 2  # never 3, and the limit was used


@pytest.mark.slow
def test_a_failing_point_is_a_row_with_success_false_and_the_others_succeed(
    root: Path, tmp_path: Path
) -> None:
    result = run_sweep(model_of(tmp_path, fail_depth=2), grid={"model.depth": [1, 2, 3]})

    frame = result.results
    assert frame["success"].to_list() == [True, False, True]
    assert frame["status"].to_list() == ["finished", "failed", "finished"]
    assert frame["exit_code"].to_list() == [0, 3, 0]
    assert frame["score"].to_list() == [0.1, 0.2, 0.30000000000000004]  # logged before failing
    assert not result.ok
    [top] = (
        fa.runs(root, experiment="sweeps")
        .filter(pl.col("run_id") == result.run_id)
        .rows(named=True)
    )
    assert top["status"] == "failed"
    assert top["tags"]["ferrotrack.reason"] == "1 of 3 points failed"


@pytest.mark.slow
def test_a_seeded_random_sweep_draws_the_same_points(root: Path, tmp_path: Path) -> None:
    space = {"lr": "loguniform(1e-3,1e-1)", "model.depth": "int(1,5)"}
    first = sweep(model_of(tmp_path), random=space, samples=3, seed=11)
    again = sweep(model_of(tmp_path), random=space, samples=3, seed=11)

    assert first.select("lr", "model.depth").equals(again.select("lr", "model.depth"))
    assert first["score"].to_list() == [
        lr * depth for lr, depth in zip(first["lr"], first["model.depth"], strict=True)
    ]
    assert all(1e-3 <= lr <= 1e-1 for lr in first["lr"])
    assert set(first["run_id"]).isdisjoint(again["run_id"])  # two sweeps, two sets of runs


def test_bad_input_raises_before_anything_runs(root: Path, tmp_path: Path) -> None:
    model = model_of(tmp_path)
    with pytest.raises(SweepSpecError, match="exactly one space"):
        sweep(model)
    with pytest.raises(
        InvalidArgumentError, match=r"no run plugin named 'nowhere'.*known: .*local"
    ):
        sweep(model, grid={"lr": [1]}, backend="nowhere")
    with pytest.raises(BackendConfigError, match="colour"):
        sweep(model, grid={"lr": [1]}, colour="red")
    with pytest.raises(InvalidArgumentError, match="max_concurrency: expected an integer >= 1"):
        sweep(model, grid={"lr": [1]}, max_concurrency=0)
    assert not (root / "experiment=sweeps").exists()


SCRIPT = """
import os, sys
from ferrotrack.run import ModelRun
from ferrotrack.run.sweeps import sweep

model = ModelRun(
    run_id="held",
    experiment="sweeps",
    output_dir=sys.argv[1],
    command=[sys.executable, "-c", "import time; time.sleep(120)", os.environ["MARKER"]],
)
sweep(model, grid={"i": list(range(6))}, max_concurrency=2)
"""


@pytest.mark.slow
def test_ctrl_c_cancels_every_running_point_and_marks_the_sweep_killed(
    root: Path, tmp_path: Path
) -> None:
    marker = f"sweep-marker-{uuid.uuid4().hex}"
    script = tmp_path / "sweeper.py"
    script.write_text(SCRIPT)
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "runs")],
        env={**os.environ, "FERROTRACK_ROOT": str(root), "MARKER": marker},
        stderr=subprocess.PIPE,
    )
    try:
        wait_for("two points running", lambda: len(processes_with(marker)) == 2)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert b"KeyboardInterrupt" in err
    wait_for("no point left running", lambda: not processes_with(marker), deadline_s=5)

    table = fa.runs(root, experiment="sweeps")
    [top] = table.filter(pl.col("parent").is_null()).rows(named=True)
    assert top["status"] == "killed"
    points = table.filter(pl.col("parent") == top["run_id"])
    assert points["status"].to_list() == ["killed", "killed"]  # the 4 others never started


@pytest.mark.parametrize(
    ("run_id", "grid", "message"),
    [
        ("x" * 126, {"lr": [1, 2]}, r"point 0 .*run_id"),  # 'xxx...-000' is over 128 characters
        ("toy", {"model.depth.x": [1]}, r"point 0 .*'model\.depth\.x'.*'model\.depth' is 1"),
    ],
)
def test_a_point_that_cannot_be_a_model_run_is_refused_before_the_sweep_starts(
    root: Path, tmp_path: Path, run_id: str, grid: dict[str, list[Any]], message: str
) -> None:
    model = model_of(tmp_path).model_copy(update={"run_id": run_id})
    with pytest.raises(SweepSpecError, match=message):
        sweep(model, grid=grid)
    assert not (root / "experiment=sweeps").exists()  # no sweep run left "running"


@pytest.mark.slow
def test_a_random_sweep_without_a_seed_records_the_one_it_drew(root: Path, tmp_path: Path) -> None:
    space = {"lr": "uniform(0.1,0.9)"}
    first = run_sweep(model_of(tmp_path), random=space, samples=2)
    [top] = (
        fa.runs(root, experiment="sweeps").filter(pl.col("run_id") == first.run_id).rows(named=True)
    )
    seed = top["params.sweep.seed"]
    assert isinstance(seed, int)
    again = sweep(model_of(tmp_path), random=space, samples=2, seed=seed)
    assert again["lr"].to_list() == first.results["lr"].to_list()


@pytest.mark.slow
def test_the_table_holds_only_the_sweeps_own_runs(root: Path, tmp_path: Path) -> None:
    """Other runs of the experiment (an earlier sweep of the same model, a plain run
    logging the same metric) leave the table alone."""
    with ft.start_run(
        "other", experiment="sweeps", root=root, tags={"ferrotrack.model_run": "toy-000"}
    ) as other:
        other.log({"score": 99.0, "unrelated": 1.0}, step=0)
    earlier = run_sweep(model_of(tmp_path), grid={"lr": [7.0]})
    result = run_sweep(model_of(tmp_path), grid={"lr": [0.5, 0.25]})
    frame = result.results
    assert frame.columns[-2:] == ["lr", "score"]  # no 'unrelated' column
    assert frame["score"].to_list() == [0.5, 0.25]
    assert set(frame["run_id"]).isdisjoint([other.run_id, *earlier.results["run_id"]])
