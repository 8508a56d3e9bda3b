"""``docs/run/slurm.md`` runs as written against the real cluster and prints what it says."""

from __future__ import annotations

from pathlib import Path

import pytest
from slurm_cluster import SlurmCluster, slurm_cluster

from ferrotrack.core.testing import python_blocks, run_doc_blocks

__all__ = ["slurm_cluster"]  # the fixture used here

DOC = Path(__file__).resolve().parents[3] / "docs" / "run" / "slurm.md"


@pytest.mark.slow
def test_slurm_page_runs(root: Path, slurm_cluster: SlurmCluster) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 3
    assert run_doc_blocks(DOC, blocks, module="docs_run_slurm") == 9
    assert slurm_cluster.queued() == []
