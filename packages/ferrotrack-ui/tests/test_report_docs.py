"""``docs/ui.md`` runs as written and prints what it says, and every screenshot it shows
is in ``docs/ui/`` (the browser tests take them with FERROTRACK_SCREENSHOTS=1)."""

from __future__ import annotations

import re
from pathlib import Path

from ferrotrack.core.testing import python_blocks, run_doc_blocks

REPO = Path(__file__).resolve().parents[3]
PAGE = REPO / "docs" / "ui.md"


def test_ui_page_examples_run(root: Path) -> None:
    blocks = python_blocks(PAGE.read_text())
    assert len(blocks) == 2
    assert run_doc_blocks(PAGE, blocks, module="docs_ui_md") == 3


def test_ui_page_images_exist() -> None:
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", PAGE.read_text())
    assert len(images) == 7
    for image in images:
        assert (PAGE.parent / image).is_file(), image
