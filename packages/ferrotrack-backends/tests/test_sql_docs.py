"""``docs/backends/sql.md`` as written: its Python example prints what it says, and its SQL
examples run on the databases they are written for."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

import ferrotrack.core as ft

sys.path.insert(0, str(Path(__file__).parent))
from postgres_server import db_url, pg_url, postgres, query

__all__ = ["db_url", "pg_url", "postgres"]  # fixtures used here

DOC = Path(__file__).resolve().parents[3] / "docs" / "backends" / "sql.md"


def test_the_python_example_prints_what_it_says(root: Path) -> None:
    (block, *_) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, str(DOC), "exec", dont_inherit=True), {"__name__": "doc"})
    promised = re.findall(r"print\(.*\)\s+# (.+)$", block, re.M)
    assert promised
    assert out.getvalue().splitlines() == promised


def only_for(sql: str) -> str | None:
    """The one database a query is written for, or ``None`` for both."""
    if "DISTINCT ON" in sql or "to_timestamp" in sql:
        return "postgresql"
    if "datetime(" in sql:
        return "sqlite"
    return None


def test_the_sql_examples_run(db_url: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__SQL__URL", db_url)
    with ft.start_run("parent", experiment="demo", backends=["sql"]) as parent:
        parent.log("loss", 2.0)
    with ft.start_run(
        "child", experiment="demo", parent=parent, params={"optim": {"lr": 0.1}}, backends=["sql"]
    ) as run:
        run.log_event("level_start", level="epoch", step=0)
        for step in range(5):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 5}, step=step)
        run.log_event("level_end", level="epoch", step=0)
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 6
    ran = 0
    for sql in blocks:
        if only_for(sql) not in (None, kind):
            continue
        rows = query(db_url, sql.strip().rstrip(";"))
        assert rows, sql
        ran += 1
    assert ran == (5 if kind == "postgresql" else 4)
    last = query(db_url, blocks[0].strip().rstrip(";"))
    assert (run.run_id, "loss", 4, 0.2) in last
    assert (parent.run_id, "loss", 0, 2.0) in last
    assert (run.run_id, "acc", 4, 0.8) in last
    assert len(last) == 3
    (child,) = [r for r in query(db_url, blocks[2].strip().rstrip(";")) if r[1] == "child"]
    assert child[:4] == ("demo", "child", "parent", "finished")
