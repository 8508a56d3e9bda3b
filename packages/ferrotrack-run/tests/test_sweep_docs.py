"""``docs/run/sweeps.md`` runs as written and prints what it promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

DOC = Path(__file__).resolve().parents[3] / "docs" / "run" / "sweeps.md"


@pytest.mark.slow
def test_the_sweeps_page_runs(root: Path) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 2
    assert run_doc_blocks(DOC, blocks, module="docs_run_sweeps") == 6
