"""``docs/backends/sql.md`` as written: its Python example prints what it says, and its SQL
examples run on the databases they are written for."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import ferrotrack.core as ft
from ferrotrack.core.testing import python_blocks, run_doc_blocks

sys.path.insert(0, str(Path(__file__).parent))
from postgres_server import db_url, pg_url, postgres, query

__all__ = ["db_url", "pg_url", "postgres"]  # fixtures used here

DOC = Path(__file__).resolve().parents[3] / "docs" / "backends" / "sql.md"


def test_the_python_example_prints_what_it_says(root: Path) -> None:
    (block, *_) = python_blocks(DOC.read_text())
    assert run_doc_blocks(DOC, [block], module="doc") >= 1


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


def test_the_documented_migration_from_version_1_works(pg_url: str, tmp_path: Path) -> None:
    """A version 1 database (metrics keyed by run_id, rank, row) refused, migrated with the
    statements of the page, then written to; what it held stays once."""
    from ferrotrack.backends.sql import SqlBackend
    from ferrotrack.backends.sql.schema import SchemaVersionError
    from ferrotrack.core.plugins.arrow import metrics_to_batch
    from ferrotrack.core.plugins.metric import MetricData
    from ferrotrack.core.records import RunInfo

    def backend() -> SqlBackend:
        b = SqlBackend()
        b.initialize({"url": pg_url})
        b.start()
        b.open_run(RunInfo("exp", "a" * 32, "n", tmp_path / "e" / "r", started=0), {})
        return b

    def batch(first: int, n: int) -> object:
        return metrics_to_batch(
            [MetricData(name="x", value=float(i), step=i) for i in range(first, first + n)]
        )

    first = backend()
    first.handle_rows(batch(0, 10), 0, 0, 10)
    first.stop()
    postgres_version_1 = [  # the version 1 schema of metrics, as it was written
        "DROP INDEX metrics_run_rank_row",
        'ALTER TABLE metrics ADD PRIMARY KEY (run_id, "rank", "row")',
        "UPDATE schema_info SET value = '1' WHERE key = 'version'",
    ]
    for sql in postgres_version_1:
        query_write(pg_url, sql)
    with pytest.raises(SchemaVersionError, match="schema version 1"):
        backend()
    (block,) = re.findall(r"```\n(BEGIN;.*?COMMIT;\n)```", DOC.read_text(), re.S)
    for sql in block.split(";"):
        if sql.strip() and sql.strip() not in ("BEGIN", "COMMIT"):
            query_write(pg_url, sql.strip())
    again = backend()
    again.handle_rows(batch(5, 10), 0, 5, 15)  # overlaps what is there: cut
    again.stop()
    got = query(pg_url, 'SELECT "row", step FROM metrics ORDER BY "row"')
    assert got == [(i, i) for i in range(15)]
    assert query(pg_url, "SELECT value FROM schema_info") == [("2",)]


def query_write(url: str, sql: str) -> None:
    """Runs one statement and commits it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()
