"""Fixtures of the core tests: an empty store as the default root (``root``), and runs
written with exact metadata for the readers' tests (``store``, ``make_run``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.store.layout import new_run_id, run_dir
from ferrotrack.core.testing import isolated_root


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty store root, also set as ``FERROTRACK_ROOT``; no run left active after the test."""
    yield from isolated_root(tmp_path, monkeypatch)


Point = tuple[str, float, int | None]
MakeRun = Callable[..., Path]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """An empty store root."""
    root = tmp_path / "store"
    root.mkdir()
    return root


@pytest.fixture
def make_run(store: Path) -> MakeRun:
    """Writes one run and returns its folder."""

    def make(
        points: Sequence[Point] = (),
        *,
        experiment: str = "exp",
        name: str | None = None,
        status: str = "finished",
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        rank: int = 0,
        run_id: str | None = None,
        flushes: int = 1,
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        rid = run_id or new_run_id()
        folder = run_dir(store, experiment, rid)
        writer = MetricWriter(folder, rank=rank, background=False, durability="none")
        now = time.time_ns()
        if rank == 0:
            writer.set_run_meta(
                json.dumps(
                    {
                        "format_version": 1,
                        "run_id": rid,
                        "name": name or rid[-8:],
                        "experiment": experiment,
                        "status": status,
                        "started": now,
                        "ended": None if status == "running" else now + 1_000_000_000,
                        "flush_interval": 1.0,
                        "parent": None,
                        "tags": dict(tags or {}),
                        "host": os.uname().nodename,
                        "pid": os.getpid(),
                        "pid_start": None,
                        **dict(meta or {}),
                    }
                )
            )
            (folder / "params.json").write_text(json.dumps(dict(params or {})))
        chunk = max(1, -(-len(points) // flushes))
        for i, (metric, value, step) in enumerate(points):
            writer.log(metric, value, step=step)
            if (i + 1) % chunk == 0:
                writer.flush()
        writer.close()
        return folder

    return make
