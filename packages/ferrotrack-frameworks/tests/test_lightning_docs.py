"""docs/frameworks/lightning.md runs as written and prints what it says (its ```python
blocks in order, one namespace, a fresh working folder and store)."""

from __future__ import annotations

from pathlib import Path

from ferrotrack.core.testing import python_blocks, run_doc_blocks

REPO = Path(__file__).resolve().parents[3]


def test_the_lightning_page_runs(root: Path) -> None:
    doc = REPO / "docs" / "frameworks" / "lightning.md"
    blocks = python_blocks(doc.read_text())
    assert len(blocks) == 4
    assert run_doc_blocks(doc, blocks, module="docs_frameworks_lightning") == 7
