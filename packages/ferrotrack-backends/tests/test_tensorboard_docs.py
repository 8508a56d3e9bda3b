"""The runnable example of docs/backends/tensorboard.md prints what it says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "backends" / "tensorboard.md"


def test_the_docs_example_runs_as_written(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), re.S)
    assert len(blocks) == 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(PAGE), "exec", dont_inherit=True), {"__name__": "docs"})
    promised = re.findall(r"print\(.*\)\s+# (.+)$", blocks[0], re.M)
    assert out.getvalue().splitlines() == promised
