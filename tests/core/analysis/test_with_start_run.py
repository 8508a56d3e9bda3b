"""End to end: what the public tracking API writes, analysis reads back the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core.analysis as fa
from ferrotrack.core.run import start_run

values = st.lists(st.floats(allow_nan=False, width=64), min_size=1, max_size=50)


@given(xs=values, lr=st.floats(1e-6, 1.0))
def test_start_run_round_trip(
    tmp_path_factory: pytest.TempPathFactory, xs: list[float], lr: float
) -> None:
    root: Path = tmp_path_factory.mktemp("store")
    with start_run("e2e", experiment="rt", root=root, params={"optim": {"lr": lr}}) as run:
        for x in xs:
            run.log("loss", x)
    table = fa.runs(root)
    row = table.row(0, named=True)
    assert (row["name"], row["status"], row["params.optim.lr"]) == ("e2e", "finished", lr)
    assert (row["loss.last"], row["loss.min"], row["loss.max"]) == (xs[-1], min(xs), max(xs))
    points = fa.metrics(root, names="loss").collect()
    assert points.get_column("value").to_list() == xs
    assert points.get_column("step").to_list() == list(range(len(xs)))
