"""``docs/run/dask.md`` runs as written against a real dask cluster and prints what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

DOC = Path(__file__).resolve().parents[3] / "docs" / "run" / "dask.md"


@pytest.mark.slow
def test_the_dask_page_runs(root: Path) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 3
    assert run_doc_blocks(DOC, blocks, module="docs_run_dask") == 6
