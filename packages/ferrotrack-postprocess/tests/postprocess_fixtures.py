"""A model run for tests (core's ``ModelRun`` Protocol, nothing more) and real runs.

``ferrotrack.run`` is a sibling distribution these tests never import: processors only
see the Protocol, so a small class implementing it is the honest double.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import ferrotrack.core as ft


@dataclass
class StubModelRun:
    """``run_id``, ``output_dir``, ``generate()`` and ``tracked_run``, as core's Protocol asks."""

    run_id: str
    output_dir: str | os.PathLike[str]
    run: ft.Run | None = None

    @property
    def folder(self) -> Path:
        """``Path(output_dir) / run_id``: where the model writes."""
        return Path(self.output_dir) / self.run_id

    def generate(self) -> Path:
        """Writes an input file into the model run's folder, as a model's generate() would."""
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "input.txt").write_text("steps: 10\n")
        return self.folder

    @property
    def tracked_run(self) -> ft.Run | None:
        """The ferrotrack run of the last execution."""
        return self.run


def logged_run(
    name: str,
    curves: Mapping[str, np.ndarray],
    *,
    experiment: str = "model",
    params: Mapping[str, Any] | None = None,
) -> ft.Run:
    """A finished ferrotrack run holding ``curves`` (metric -> values, steps 0..n-1)."""
    with ft.start_run(name, experiment=experiment, params=params or {}) as run:
        for metric, values in curves.items():
            run.log_array(metric, np.asarray(values, dtype=np.float64))
    return run


def model_with_run(
    tmp_path: Path,
    curves: Mapping[str, np.ndarray],
    *,
    run_id: str = "model-1",
    name: str = "baseline",
    params: Mapping[str, Any] | None = None,
) -> StubModelRun:
    """A generated model run whose tracked run logged ``curves``, with one output file."""
    model = StubModelRun(run_id, tmp_path / "outputs", logged_run(name, curves, params=params))
    model.generate()
    (model.folder / "result.nc").write_bytes(b"\x00" * 64)
    return model
