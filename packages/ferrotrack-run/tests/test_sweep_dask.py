"""A grid sweep through the dask backend's native ``run_many`` on a real ``LocalCluster``
(the engine helpers' session cluster): the same table as on the local backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from engine_fixtures import dask_session
from test_sweep_local import model_of

import ferrotrack.core.analysis as fa
from ferrotrack.run.sweeps import run_sweep


@pytest.fixture(scope="module")
def dask_engine() -> Iterator[dict[str, Any]]:
    yield from dask_session()


@pytest.mark.slow
def test_a_grid_sweep_on_dask(root: Path, tmp_path: Path, dask_engine: dict[str, Any]) -> None:
    result = run_sweep(
        model_of(tmp_path),
        grid={"lr": [0.5, 0.25], "model.depth": [1, 3]},
        backend="dask",
        max_concurrency=2,
        **dask_engine,
    )

    frame = result.results
    assert frame["success"].all()
    assert frame["status"].to_list() == ["finished"] * 4
    assert frame["score"].to_list() == [0.5, 1.5, 0.25, 0.75]
    points = fa.runs(root, experiment="sweeps").filter(pl.col("parent") == result.run_id)
    assert points.height == 4
    assert {t["ferrotrack.backend"] for t in points["tags"].to_list()} == {"dask"}
