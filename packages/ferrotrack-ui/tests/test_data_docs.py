"""``docs/ui-api.md`` and the package README run as written and print what they say (a
fresh store per page)."""

from __future__ import annotations

from pathlib import Path

from ferrotrack.core.testing import python_blocks, run_doc_blocks

REPO = Path(__file__).resolve().parents[3]


def test_ui_api_page_runs(root: Path) -> None:
    doc = REPO / "docs/ui-api.md"
    blocks = python_blocks(doc.read_text())
    assert blocks
    assert run_doc_blocks(doc, blocks, module="docs_ui_api") == 6


def test_readme_runs(root: Path) -> None:
    doc = REPO / "packages/ferrotrack-ui/README.md"
    blocks = python_blocks(doc.read_text())
    assert run_doc_blocks(doc, blocks, module="docs_ui_readme") == 2
