"""The Python examples of the docs run as written, and print what they say.

Blocks fenced as ```python run; illustrative fragments are fenced as ```py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize(
    ("page", "min_blocks"),
    [("plugins.md", 5), ("core.md", 2), ("analysis.md", 1), ("backends/jsonl.md", 1)],
)
def test_doc_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: str, min_blocks: int
) -> None:
    monkeypatch.chdir(tmp_path)  # no settings file above, files land here
    monkeypatch.setenv("FERROTRACK_ROOT", str(tmp_path / "store"))
    doc = DOCS / page
    blocks = python_blocks(doc.read_text())
    assert len(blocks) >= min_blocks
    # a trailing "# value" on a print line is the promised output (before any "  (note)")
    run_doc_blocks(doc, blocks, module=f"docs_{page}", ignore=("> ", "mirror", "late"))
