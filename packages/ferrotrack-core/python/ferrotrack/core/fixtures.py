"""pytest fixtures every ferrotrack package's tests share (this module imports pytest).

A package's ``tests/conftest.py`` imports them, which is how pytest finds fixtures::

    from ferrotrack.core.fixtures import root, tests_importable

    tests_importable(__file__)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferrotrack.core.testing import isolated_root

__all__ = ["root", "tests_importable"]


def tests_importable(conftest: str) -> None:
    """Puts the folder of ``conftest`` on ``sys.path``: with ``--import-mode=importlib``
    the tests could not import their helper modules (``run_fixtures``, ...) otherwise."""
    here = str(Path(conftest).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty store root, set as ``FERROTRACK_ROOT``; the working folder is ``tmp_path``
    (no settings file above it is read); runs left open are finished."""
    yield from isolated_root(tmp_path, monkeypatch, chdir=True)
