"""docs/collectors.md and this package's README run as written and print what they say
(```python blocks, one page in one namespace, a fresh working folder and store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferrotrack.core.testing import python_blocks, run_doc_blocks

REPO = Path(__file__).resolve().parents[3]
PAGES = ["docs/collectors.md", "packages/ferrotrack-collectors/README.md"]


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(root: Path, page: str) -> None:
    doc = REPO / page
    blocks = python_blocks(doc.read_text())
    assert blocks
    module = "docs_" + page.replace("/", "_").replace(".", "_").replace("-", "_")
    assert run_doc_blocks(doc, blocks, module=module) >= 3


def test_every_collected_name_is_documented_with_a_unit() -> None:
    """Each ``sys/…`` and ``gpu/…`` name the collectors emit has a row with a unit."""
    import re

    text = (REPO / "docs/collectors.md").read_text()
    rows = dict(re.findall(r"^\| `((?:sys|gpu)/[^`]+)` \| ([^|]+) \|", text, re.M))
    source = REPO / "packages/ferrotrack-collectors/python/ferrotrack/collectors"
    system = (source / "system.py").read_text()
    emitted = set(re.findall(r'"(sys/[a-z_/]+)"', system)) | {"sys/cpu/<i>/percent"}
    gpu = (source / "gpu.py").read_text()
    keys = re.search(r"for key in \((.*?)\)", gpu, re.S)
    assert keys is not None
    emitted |= {f"gpu/<i>/{k}" for k in re.findall(r'"([a-z_]+)"', keys.group(1))}
    for name in emitted:
        assert name in rows, f"{name} is not documented in docs/collectors.md"
        assert rows[name].strip(), f"{name} has no unit"
