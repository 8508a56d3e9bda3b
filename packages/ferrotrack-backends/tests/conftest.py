"""Fixtures of the backends' tests: a fresh store root per test, no run left open."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import ferrotrack.core as ft


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty store root, set as ``FERROTRACK_ROOT``; settings files above are not read."""
    store = tmp_path / "store"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FERROTRACK_ROOT", str(store))
    for var in ("FERROTRACK_RUN_DIR", "RANK", "LOCAL_RANK", "FERROTRACK_RANK"):
        monkeypatch.delenv(var, raising=False)
    yield store
    while (run := ft.active_run()) is not None:
        run.finish()
