"""The README's example runs as written and prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs(root: Path) -> None:
    match = re.search(r"```python\n(.*?)```", README.read_text(), re.S)
    assert match, "the README has no python example"
    block = match.group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(README), "exec", dont_inherit=True), {"__name__": "readme"})
    promised = re.findall(r"print\(.*\)\s+# (.+)$", block, re.M)
    assert len(promised) == 3
    assert out.getvalue().splitlines() == promised
