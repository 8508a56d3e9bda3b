"""The Python examples of the docs run as written, and print what they say.

Blocks fenced as ```python run; illustrative fragments are fenced as ```py.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

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
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert len(blocks) >= min_blocks
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(doc), "exec", dont_inherit=True), namespace)
        printed = iter(out.getvalue().splitlines())
        for line in block.splitlines():
            # a trailing "# value" on a print line is the promised output (before any "  (note)")
            m = re.match(r"\s*print\(.*\)\s+# (.+)$", line)
            if m:
                got = next(
                    line for line in printed if not line.startswith(("> ", "mirror", "late"))
                )
                assert got == m.group(1).split("  ")[0].strip(), line
