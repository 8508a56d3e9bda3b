"""The runnable example of docs/backends/tensorboard.md prints what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

PAGE = Path(__file__).resolve().parents[3] / "docs" / "backends" / "tensorboard.md"


def test_the_docs_example_runs_as_written(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(PAGE.read_text())
    assert len(blocks) == 1
    run_doc_blocks(PAGE, blocks, module="docs")
