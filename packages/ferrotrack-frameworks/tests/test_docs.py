"""The pages of ``docs/frameworks/`` and the package README run as written and print what they
say (blocks fenced as ```python, one page in one namespace, a fresh working folder and store).

docs/frameworks/lightning.md runs in test_lightning_docs.py; a new page joins PAGES."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

REPO = Path(__file__).resolve().parents[3]
PAGES = [
    "docs/frameworks/README.md",
    "docs/frameworks/pytorch.md",
    "docs/frameworks/transformers.md",
    "packages/ferrotrack-frameworks/README.md",
]
# lines a library prints itself: the Trainer prints its logs dicts when tqdm is off
IGNORE = {"docs/frameworks/transformers.md": ("{",)}


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(root: Path, page: str) -> None:
    doc = REPO / page
    blocks = python_blocks(doc.read_text())
    assert blocks
    module = "docs_frameworks_" + page.replace("/", "_").replace(".", "_").replace("-", "_")
    assert run_doc_blocks(doc, blocks, module=module, ignore=IGNORE.get(page, ())) >= 1
