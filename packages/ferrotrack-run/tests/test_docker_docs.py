"""``docs/run/docker.md`` runs as written against the real engine and prints what it says."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_engine import DockerEngine, docker_engine, docker_images

from ferrotrack.core.testing import python_blocks, run_doc_blocks

__all__ = ["docker_engine", "docker_images"]  # fixtures used here

DOC = Path(__file__).resolve().parents[3] / "docs" / "run" / "docker.md"


@pytest.mark.slow
def test_docker_page_runs(
    root: Path, docker_engine: DockerEngine, docker_images: tuple[str, ...]
) -> None:
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 4
    assert run_doc_blocks(DOC, blocks, module="docs_run_docker") >= 8
