"""PyTorch tensors as logged values, on the CPU and, where one is present, on a CUDA GPU.

torch is not a dependency of ferrotrack: this module runs where torch is installed (the
GPU parameter where CUDA is available) and is skipped elsewhere, CI included.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import ferrotrack.core as ft
from ferrotrack.core.analysis import metrics

torch: Any = pytest.importorskip("torch")

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here"),
    ),
]


def values_of(root: Path, name: str) -> list[float]:
    frame = metrics(root, names=name).sort("step").collect()
    return frame.get_column("value").to_list()


@pytest.mark.parametrize("device", DEVICES)
def test_scalar_tensors_log_as_floats(root: Path, device: str) -> None:
    loss = torch.tensor(0.25, device=device)
    with ft.start_run() as run:
        run.log("loss", loss)
        run.log({"loss": loss * 2, "acc": torch.tensor(0.5, dtype=torch.float16, device=device)})
        ft.log("loss", loss.double() * 3)
    assert values_of(root, "loss") == [0.25, 0.5, 0.75]
    assert values_of(root, "acc") == [0.5]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bfloat16"])
def test_vector_tensors_log_as_arrays(root: Path, device: str, dtype: str) -> None:
    values = torch.arange(10_000, device=device).to(getattr(torch, dtype))
    steps = torch.arange(10_000, device=device) * 2
    with ft.start_run() as run:
        started = time.perf_counter()
        run.log_array("x", values, steps=steps)
        elapsed = time.perf_counter() - started
    expected = values.double().cpu().tolist()
    assert values_of(root, "x") == expected
    got_steps = metrics(root, names="x").sort("step").collect().get_column("step")
    assert got_steps.to_list() == list(range(0, 20_000, 2))
    # Not a timing target: a per-element path (one device sync per point) takes seconds.
    assert elapsed < 1.0, f"log_array of 10,000 {device} points took {elapsed:.2f} s"


def test_a_tensor_of_two_dimensions_is_refused(root: Path) -> None:
    with (
        ft.start_run() as run,
        pytest.raises(ft.errors.InvalidArgumentError, match="one-dimensional"),
    ):
        run.log_array("x", torch.zeros(3, 3))
    assert pl.DataFrame(metrics(root).collect()).height == 0
