"""The README's examples run as written and print what they say (one per backend)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ferrotrack.core.testing import run_doc_blocks

README = Path(__file__).resolve().parents[1] / "README.md"
BACKENDS = ("jsonl", "tensorboard", "mlflow", "wandb", "sql", "clearml", "aim")


def sections() -> dict[str, str]:
    """``{backend: its python block}`` from the README's ``## <backend>`` sections."""
    text = README.read_text()
    found = {}
    for name in BACKENDS:
        m = re.search(rf"^## {name}\n.*?```python\n(.*?)```", text, re.S | re.M)
        assert m, f"the README has no runnable example under '## {name}'"
        found[name] = m.group(1)
    return found


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_readme_example_runs(
    backend: str, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative files (mlflow.db) land here
    monkeypatch.setenv("HOME", str(tmp_path))  # wandb, ClearML and Aim write under HOME
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__MLFLOW__TRACKING_URI", "")  # restored after
    # ClearML announces its offline session on stdout itself.
    run_doc_blocks(README, [sections()[backend]], module="readme", ignore=("ClearML",))
