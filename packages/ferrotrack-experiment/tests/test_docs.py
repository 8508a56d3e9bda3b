"""The pages of ``docs/experiment/`` run as written and print what they say.

As in the repository's ``tests/test_docs.py``: blocks fenced as ```python run, one page in
one namespace, in a fresh working folder and store; a trailing ``# value`` on a ``print``
line is the output promised. Illustrative fragments are fenced as ```py and not run.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[3] / "docs" / "experiment"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "min_blocks"),
    [("index.md", 2), ("pipelines.md", 1), ("factories.md", 2), ("trackers.md", 1)],
)
def test_doc_examples_run(root: Path, page: str, min_blocks: int) -> None:
    doc = DOCS / page
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) >= min_blocks
    namespace: dict[str, object] = {"__name__": f"docs_experiment_{page[:-3]}"}
    promised = 0
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(doc), "exec", dont_inherit=True), namespace)
        printed = iter(out.getvalue().splitlines())
        for line in block.splitlines():
            m = re.match(r"\s*print\(.*\)\s+# (.+)$", line)
            if m:
                assert next(printed) == m.group(1).split("  ")[0].strip(), line
                promised += 1
    assert promised >= 1
