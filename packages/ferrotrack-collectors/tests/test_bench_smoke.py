"""bench/collectors.py runs end to end (a 1 s window, nothing written): the 60 s
measurement itself is for ``docs/benchmarks.md``, not for the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_bench_runs_and_prints_its_table(tmp_path: Path) -> None:
    before = (REPO / "docs/benchmarks.md").read_text()
    done = subprocess.run(
        [sys.executable, str(REPO / "bench/collectors.py"), "--seconds", "1", "--no-write"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "## Collectors (`bench/collectors.py`)" in done.stdout
    assert "| process CPU over 1 s |" in done.stdout
    assert "Errors while sampling: 0." in done.stdout
    assert (REPO / "docs/benchmarks.md").read_text() == before
