"""The README's examples run as written and print what they say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_examples_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "one runnable example per backend"
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(README), "exec", dont_inherit=True), {"__name__": "readme"})
        promised = re.findall(r"print\(.*\)\s+# (.+)$", block, re.M)
        assert out.getvalue().splitlines() == promised
