"""The pages of ``docs/experiment/`` run as written and print what they say.

As in the repository's ``tests/test_docs.py``: blocks fenced as ```python run, one page in
one namespace, in a fresh working folder and store; a trailing ``# value`` on a ``print``
line is the output promised. Illustrative fragments are fenced as ```py and not run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

DOCS = Path(__file__).resolve().parents[3] / "docs" / "experiment"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "min_blocks"),
    [("index.md", 2), ("pipelines.md", 1), ("factories.md", 2), ("trackers.md", 1)],
)
def test_doc_examples_run(root: Path, page: str, min_blocks: int) -> None:
    doc = DOCS / page
    blocks = python_blocks(doc.read_text())
    assert len(blocks) >= min_blocks
    assert run_doc_blocks(doc, blocks, module=f"docs_experiment_{page[:-3]}") >= 1
