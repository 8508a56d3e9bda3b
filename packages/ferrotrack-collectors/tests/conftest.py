"""Fixtures of this package's tests: a fresh store root and working folder per test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrotrack.core.testing import isolated_root

HERE = str(Path(__file__).parent)
if HERE not in sys.path:  # --import-mode=importlib: else tests cannot import their helpers
    sys.path.insert(0, HERE)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty store root, set as ``FERROTRACK_ROOT``; the working folder is ``tmp_path``."""
    yield from isolated_root(tmp_path, monkeypatch, chdir=True)
