"""The pages of ``docs/run/`` and the package README run as written and print what they say
(blocks fenced as ```python, one page in one namespace, a fresh working folder and store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

REPO = Path(__file__).resolve().parents[3]
PAGES = ["docs/run/README.md", "docs/run/local.md", "docs/run/pipeline.md",
         "packages/ferrotrack-run/README.md"]  # fmt: skip


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(root: Path, page: str) -> None:
    doc = REPO / page
    blocks = python_blocks(doc.read_text())
    assert blocks
    module = "docs_run_" + page.replace("/", "_").replace(".", "_").replace("-", "_")
    assert run_doc_blocks(doc, blocks, module=module) >= 1
