"""The README's example runs as written and prints what it says."""

from __future__ import annotations

from pathlib import Path

from ferrotrack.core.testing import python_blocks, run_doc_blocks

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(root: Path) -> None:
    blocks = python_blocks(README.read_text())
    assert blocks, "the README has no python example"
    assert run_doc_blocks(README, blocks[:1], module="readme") == 3
