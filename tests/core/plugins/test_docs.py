"""The Python examples of docs/plugins.md run as written, and print what they say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "plugins.md"


def test_plugins_md_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no settings file above, files land here
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "docs_plugins"}
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(DOC), "exec", dont_inherit=True), namespace)
        printed = iter(out.getvalue().splitlines())
        for line in block.splitlines():
            # a trailing "# value" on a print line is the promised output (before any "  (note)")
            m = re.match(r"\s*print\(.*\)\s+# (.+)$", line)
            if m:
                got = next(
                    line for line in printed if not line.startswith(("> ", "mirror", "late"))
                )
                assert got == m.group(1).split("  ")[0].strip(), line
