"""The pages of ``docs/postprocess/`` run as written and print what they say.

As in the repository's ``tests/test_docs.py``: blocks fenced as ```python run, one page in
one namespace, in a fresh working folder and store; a trailing ``# value`` on a ``print``
line is the output promised. Illustrative fragments are fenced as ```py and not run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

DOCS = Path(__file__).resolve().parents[3] / "docs" / "postprocess"


@pytest.mark.parametrize(
    ("page", "promised"),
    [("README.md", 6), ("noop.md", 5), ("summary.md", 6), ("plots.md", 5), ("export.md", 5)],
)
def test_doc_examples_run(root: Path, page: str, promised: int) -> None:
    doc = DOCS / page
    blocks = python_blocks(doc.read_text())
    assert blocks, f"{page} has no python example"
    assert run_doc_blocks(doc, blocks, module=f"docs_postprocess_{page[:-3]}") == promised
