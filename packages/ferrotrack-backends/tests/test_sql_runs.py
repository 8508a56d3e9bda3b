"""The ``sql`` backend against a real SQLite file and a real PostgreSQL server: the schema,
a run mirrored whole (parent, params, tags, status, artifacts, events and epochs, every
point once with NaN and infinities), nothing twice across a resume, syncs, a lost cursor
and a retried batch, and clear errors (wrong password, unreachable server, a name too long)."""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ferrotrack.core as ft
from ferrotrack.backends.sql import SqlBackend
from ferrotrack.backends.sql.errors import SqlBackendError
from ferrotrack.core.delivery.cursor import cursor_folder
from ferrotrack.core.delivery.replay import sync_run
from ferrotrack.core.plugins.arrow import metrics_to_batch
from ferrotrack.core.plugins.metric import MetricData
from ferrotrack.core.records import RunInfo

sys.path.insert(0, str(Path(__file__).parent))
from postgres_server import (
    PostgresServer,
    cli,
    db_url,
    free_port,
    pg_url,
    points,
    postgres,
    query,
    same_points,
    store_points,
)

__all__ = ["db_url", "pg_url", "postgres"]  # fixtures used here

URL = "FERROTRACK_BACKEND_CONFIGS__SQL__URL"
TABLES = {
    "schema_info",
    "experiments",
    "runs",
    "params",
    "tags",
    "metrics",
    "artifacts",
    "events",
    "delivered",
}


def fast_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Delivery gives up after 3 quick failures (the defaults take seconds)."""
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "3")


def open_backend(url: str, run_dir: Path, run_id: str = "a" * 32) -> SqlBackend:
    backend = SqlBackend()
    backend.initialize({"url": url})
    backend.start()
    backend.open_run(RunInfo("exp", run_id, "direct", run_dir, started=1), {})
    return backend


def batch_of(n: int, first: int = 0) -> Any:
    return metrics_to_batch(
        [MetricData(name=f"m{i % 3}", value=float(i), step=i) for i in range(first, first + n)]
    )


def test_the_schema_has_every_table_key_and_the_epochs_view(db_url: str, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, inspect

    backend = open_backend(db_url, tmp_path)
    backend.stop()
    engine = create_engine(db_url)
    try:
        found = inspect(engine)
        assert set(found.get_table_names()) == TABLES
        assert found.get_view_names() == ["epochs"]
        # No key on metrics (exactly once rests on delivered): an index finds a run's points.
        assert found.get_pk_constraint("metrics")["constrained_columns"] == []
        indexes = {i["name"]: i["column_names"] for i in found.get_indexes("metrics")}
        assert indexes == {"metrics_run_rank_row": ["run_id", "rank", "row"]}
        assert found.get_pk_constraint("delivered")["constrained_columns"] == ["run_id", "rank"]
        assert found.get_pk_constraint("events")["constrained_columns"] == [
            "run_id",
            "rank",
            "seq",
        ]
    finally:
        engine.dispose()
    if not db_url.startswith("sqlite"):
        (method,) = query(
            db_url,
            "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam "
            "WHERE c.relname = 'metrics_run_rank_row'",
        )
        assert method == ("brin",)
    assert query(db_url, "SELECT value FROM schema_info WHERE key = 'version'") == [("2",)]
    again = open_backend(db_url, tmp_path)  # a second open keeps what is there
    again.stop()
    assert query(db_url, "SELECT COUNT(*) FROM runs") == [(1,)]
    assert query(db_url, "SELECT COUNT(*) FROM schema_info") == [(1,)]


@pytest.mark.parametrize("version", ["1", "3"])
def test_another_schema_version_is_refused_with_what_to_do(
    db_url: str,
    version: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An older (or newer) ferrotrack's tables are left as they are: the backend is
    degraded at once with one warning naming the migration, and writes nothing."""
    from ferrotrack.backends.sql.schema import SchemaVersionError
    from ferrotrack.core.errors import PermanentBackendError

    open_backend(db_url, root / "e" / "r").stop()
    query_write(db_url, f"UPDATE schema_info SET value = '{version}' WHERE key = 'version'")
    with pytest.raises(SchemaVersionError, match=f"schema version {version}") as raised:
        open_backend(db_url, root / "e" / "r", run_id="b" * 32)
    assert isinstance(raised.value, PermanentBackendError)
    message = str(raised.value)
    assert "backend 'sql'" in message
    assert "b" * 32 in message
    if version == "1":
        assert "docs/backends/sql.md" in message
        assert "ferrotrack sync RUN --backend sql" in message
    else:
        assert "upgrade ferrotrack-backends" in message
    monkeypatch.setenv(URL, db_url)
    with caplog.at_level(logging.INFO), ft.start_run(experiment="exp", backends=["sql"]) as run:
        run.log("x", 1.0)
    about = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    about = [m for m in about if "backend 'sql'" in m]
    assert len(about) == 1, about
    assert f"schema version {version}" in about[0]
    assert query(db_url, "SELECT COUNT(*) FROM runs") == [(1,)], "only the first open's"
    assert query(db_url, "SELECT COUNT(*) FROM metrics") == [(0,)]


def test_tables_of_the_same_names_that_are_not_ferrotracks_are_left_alone(
    db_url: str, tmp_path: Path
) -> None:
    from ferrotrack.backends.sql.schema import SchemaVersionError

    query_write(db_url, "CREATE TABLE metrics (id INTEGER PRIMARY KEY, what TEXT)")
    with pytest.raises(SchemaVersionError, match=r"tables named as ferrotrack's \(metrics\)"):
        open_backend(db_url, tmp_path)
    assert query(db_url, "SELECT COUNT(*) FROM metrics") == [(0,)]


def query_write(url: str, sql: str) -> None:
    """Runs one statement and commits it."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


SPECIAL = [0.5, math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 1 / 3]


def test_a_run_is_mirrored_whole(
    db_url: str, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL, db_url)
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"\0" * 1234)
    with ft.start_run("parent", experiment="exp", backends=["sql"]) as parent:
        parent.log("x", 1.0)
    with ft.start_run(
        "child",
        experiment="exp",
        parent=parent,
        params={"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "seed": 1, "note": None},
        tags={"team": "a", "gone": "soon"},
        backends=["sql"],
    ) as run:
        for epoch in range(2):
            run.log_event("level_start", level="epoch", step=epoch)
            for i in range(700):
                step = epoch * 700 + i
                run.log({"loss": 1.0 / (step + 1), "acc": step / 1400}, step=step)
            run.log_event("level_end", level="epoch", step=epoch)
        for value in SPECIAL:
            run.log("special", value)
        run.log_params({"optim": {"lr": 0.01}})
        run.set_tags({"gone": None, "stage": "b"})
        run.log_artifact(artifact)
        run.log_event("checkpoint", "saved", name="ckpt-1", data={"path": "ckpt/1"})
    meta = json.loads((run.run_dir / "run.json").read_text())

    (row,) = query(
        db_url,
        "SELECT experiment, name, parent, status, started, ended, run_dir FROM runs WHERE id = :r",
        r=run.run_id,
    )
    assert row == ("exp", "child", parent.run_id, "finished", meta["started"], meta["ended"],
                   str(run.run_dir))  # fmt: skip
    assert query(db_url, "SELECT name FROM experiments") == [("exp",)]
    assert query(db_url, "SELECT parent FROM runs WHERE id = :r", r=parent.run_id) == [(None,)]

    params = dict(query(db_url, "SELECT key, value FROM params WHERE run_id = :r", r=run.run_id))
    decoded = {k: json.loads(v) if isinstance(v, str) else v for k, v in params.items()}
    assert decoded == {"optim.lr": 0.01, "optim.betas": [0.9, 0.99], "seed": 1, "note": None}
    tags = dict(query(db_url, "SELECT key, value FROM tags WHERE run_id = :r", r=run.run_id))
    assert tags == {"team": "a", "stage": "b"}, "the deleted tag is gone"

    ((name, size, path),) = query(
        db_url, "SELECT name, size, path FROM artifacts WHERE run_id = :r", r=run.run_id
    )
    assert (name, size) == ("model.bin", 1234)
    assert Path(path).read_bytes() == artifact.read_bytes()

    events = query(
        db_url,
        "SELECT seq, kind, level, step, name, message, rows FROM events "
        "WHERE run_id = :r ORDER BY seq",
        r=run.run_id,
    )
    assert [e[:4] for e in events] == [
        (0, "level_start", "epoch", 0),
        (1, "level_end", "epoch", 0),
        (2, "level_start", "epoch", 1),
        (3, "level_end", "epoch", 1),
        (4, "checkpoint", None, None),
    ]
    assert events[4][4:] == ("ckpt-1", "saved", 2 * 1400 + len(SPECIAL))
    assert [e[6] for e in events[:4]] == [0, 1400, 1400, 2800], "after exactly those points"
    epochs = query(
        db_url,
        "SELECT epoch, started, ended, events FROM epochs WHERE run_id = :r ORDER BY epoch",
        r=run.run_id,
    )
    assert [(e[0], e[3]) for e in epochs] == [(0, 2), (1, 2)]
    assert all(started < ended for _, started, ended, _ in epochs)

    mirrored = points(db_url, run.run_id)
    stored = store_points(run.run_dir)
    assert len(stored) == 2 * 1400 + len(SPECIAL)
    sqlite = db_url.startswith("sqlite")
    if sqlite:  # SQLite stores -0.0 as the integer 0 (docs/backends/sql.md says so)
        stored = [(*p[:5], 0.0 if p[5] == 0 else p[5]) for p in stored]
    assert same_points(mirrored, stored), "every point once, row for row, bit for bit"
    special = [p[5] for p in mirrored if p[2] == "special"]
    assert math.isnan(special[1])
    assert special[2:4] == [math.inf, -math.inf]
    assert math.copysign(1.0, special[4]) == (1.0 if sqlite else -1.0)
    assert query(db_url, "SELECT rows FROM delivered WHERE run_id = :r", r=run.run_id) == [
        (len(stored),)
    ]


def test_resume_and_syncs_add_nothing_twice(
    db_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL, db_url)
    with ft.start_run(experiment="exp", params={"a": 1}, backends=["sql"]) as run:
        for step in range(3000):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 3000}, step=step)
    with ft.start_run(experiment="exp", run_id=run.run_id, resume=True, backends=["sql"]) as again:
        again.log("loss", -1.0, step=3000)
        again.log_event("message", "resumed")
    for _ in range(2):
        backend = SqlBackend()
        backend.initialize({"url": db_url})
        with backend:
            report = sync_run(run.run_dir, backend)
        assert report.ok, report.last_error
        assert report.points_sent == 0, "the cursor is where the database is"
    assert same_points(points(db_url, run.run_id), store_points(run.run_dir))
    assert len(store_points(run.run_dir)) == 6001
    assert query(db_url, "SELECT COUNT(*) FROM runs") == [(1,)], "one row, not one per open"
    assert query(db_url, "SELECT status FROM runs") == [("finished",)]
    assert query(db_url, "SELECT COUNT(*) FROM events") == [(1,)]


def test_a_run_id_of_100_characters_is_mirrored_on_postgresql(
    pg_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Core takes run ids of up to 128 characters; every ``run_id`` column holds them."""
    monkeypatch.setenv(URL, pg_url)
    run_id = "r" + "0123456789" * 9 + "abcdefghi"
    assert len(run_id) == 100
    with ft.start_run(
        experiment="exp", run_id=run_id, params={"lr": 0.1}, tags={"t": "1"}, backends=["sql"]
    ) as run:
        for step in range(10):
            run.log("x", float(step), step=step)
        run.log_event("level_start", level="epoch", step=0)
    assert run.run_id == run_id
    assert query(pg_url, "SELECT status FROM runs WHERE id = :r", r=run_id) == [("finished",)]
    assert same_points(points(pg_url, run_id), store_points(run.run_dir))
    assert query(pg_url, "SELECT rows FROM delivered WHERE run_id = :r", r=run_id) == [(10,)]
    for table in ("params", "tags", "events"):
        count = query(pg_url, f"SELECT count(*) FROM {table} WHERE run_id = :r", r=run_id)
        assert count == [(1,)], table


def test_a_value_the_database_refuses_outside_points_is_permanent(
    pg_url: str, tmp_path: Path
) -> None:
    """An event kind wider than ``events.kind``: PostgreSQL's DataError would be refused
    on every retry, so it is a PermanentBackendError (skipped and counted)."""
    from ferrotrack.core.errors import PermanentBackendError
    from ferrotrack.core.records import RunEvent

    backend = open_backend(pg_url, tmp_path)
    with pytest.raises(PermanentBackendError, match="value too long") as caught:
        backend.log_event(RunEvent(kind="k" * 65, time=1))
    assert "cannot write an event" in str(caught.value)
    assert "retrying cannot help" in str(caught.value)
    backend.log_event(RunEvent(kind="fine", time=1, seq=1))
    backend.stop()
    assert query(pg_url, "SELECT kind FROM events") == [("fine",)]


def test_a_sync_of_a_run_logged_without_the_backend_writes_it_once(db_url: str, root: Path) -> None:
    with ft.start_run(experiment="exp", params={"lr": 0.1}, tags={"t": "1"}) as run:
        for step in range(1000):
            run.log("x", float(step), step=step)
        run.log_event("level_start", level="epoch", step=0)
    sent: list[int] = []
    for _ in range(2):
        backend = SqlBackend()
        backend.initialize({"url": db_url})
        with backend:
            report = sync_run(run.run_dir, backend)
        assert report.ok, report.last_error
        sent.append(report.points_sent)
    assert sent == [1000, 0]
    assert same_points(points(db_url, run.run_id), store_points(run.run_dir))
    assert query(db_url, "SELECT status FROM runs WHERE id = :r", r=run.run_id) == [("finished",)]
    assert query(db_url, "SELECT key, value FROM tags") == [("t", "1")]
    assert query(db_url, "SELECT COUNT(*) FROM epochs") == [(1,)]


def test_a_lost_cursor_sends_nothing_twice_the_database_says_how_far_it_got(
    db_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The remote commit went through, the cursor file did not (a process killed between
    the two): here the whole cursor folder is gone. The sync asks the database."""
    import shutil

    monkeypatch.setenv(URL, db_url)
    with ft.start_run(experiment="exp", backends=["sql"]) as run:
        for step in range(2000):
            run.log("x", float(step), step=step)
        run.log_event("checkpoint", name="c")
    shutil.rmtree(cursor_folder(run.run_dir, "sql"))
    backend = SqlBackend()
    backend.initialize({"url": db_url})
    with backend:
        report = sync_run(run.run_dir, backend)
    assert report.ok, report.last_error
    assert report.points_sent == 0
    assert report.cursor == {0: 2000}
    assert same_points(points(db_url, run.run_id), store_points(run.run_dir))
    assert query(db_url, "SELECT COUNT(*) FROM events") == [(1,)]


def test_a_retried_batch_stays_once(db_url: str, tmp_path: Path) -> None:
    """Delivery retries a batch with the same rows: the second call finds ``delivered``
    at its end and writes nothing; an overlapping one writes only what is new."""
    backend = open_backend(db_url, tmp_path)
    backend.handle_rows(batch_of(100), 0, 0, 100)
    backend.handle_rows(batch_of(100), 0, 0, 100)
    backend.handle_rows(batch_of(150, 50), 0, 50, 200)
    backend.handle_rows(batch_of(10, 200), 1, 200, 210)
    assert backend.remote_rows() == {0: 200, 1: 210}
    backend.stop()
    got = points(db_url, "a" * 32)
    assert [(p[0], p[1], p[3]) for p in got] == [(0, i, i) for i in range(200)] + [
        (1, 200 + i, 200 + i) for i in range(10)
    ]


def test_a_second_writer_of_the_same_rank_waits_and_writes_nothing_twice(
    postgres: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    """metrics has no unique key: a second writer of a rank (a sync beside the live run)
    waits on the first one's ``delivered`` row, then finds its rows there and skips them.
    The first writer is held inside its transaction by the test."""
    import threading

    import numpy as np
    from sqlalchemy import create_engine

    from ferrotrack.backends.sql import bulk, schema, writes

    first = open_backend(pg_url, tmp_path)
    second = open_backend(pg_url, tmp_path)
    engine = create_engine(pg_url)
    errors: list[BaseException] = []

    def write_again() -> None:
        try:
            second.handle_rows(batch_of(150), 0, 0, 150)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    try:
        with engine.begin() as conn:
            assert writes.claim(conn, "a" * 32, 0) == 0
            bulk.insert_points(conn, batch_of(100), "a" * 32, 0, np.arange(100))
            thread = threading.Thread(target=write_again)
            thread.start()
            deadline = time.monotonic() + 30
            while not postgres.execute(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                pg_url.rsplit("/", 1)[1],
            ):
                assert time.monotonic() < deadline, "the second writer never waited"
                assert thread.is_alive(), errors
                time.sleep(0.01)
            writes.upsert(conn, schema.delivered, [{"run_id": "a" * 32, "rank": 0, "rows": 100}])
        thread.join(timeout=60)
    finally:
        engine.dispose()
        first.stop()
        second.stop()
    assert not errors, errors
    got = points(pg_url, "a" * 32)
    assert [(p[1], p[3]) for p in got] == [(i, i) for i in range(150)], "each point once"
    assert query(pg_url, "SELECT rows FROM delivered") == [(150,)]


def test_a_commit_that_went_through_then_failed_is_not_written_twice_partly_faked(
    db_url: str, tmp_path: Path
) -> None:
    """Partly faked: the driver's commit really commits, then raises as a connection lost
    at that moment would (the real databases do the rest)."""
    backend = open_backend(db_url, tmp_path)
    engine = backend.engine
    assert engine is not None
    dialect = engine.dialect
    real_commit = dialect.do_commit
    failures: list[int] = []

    def commit_then_lose_the_answer(dbapi_connection: Any) -> None:
        real_commit(dbapi_connection)
        if not failures:
            failures.append(1)
            raise dialect.loaded_dbapi.OperationalError("connection lost after COMMIT")

    dialect.do_commit = commit_then_lose_the_answer  # type: ignore[method-assign]
    with pytest.raises(SqlBackendError, match=r"backend 'sql' .* run a{32}: cannot write points"):
        backend.handle_rows(batch_of(500), 0, 0, 500)
    backend.handle_rows(batch_of(500), 0, 0, 500)  # delivery's retry, same rows
    backend.handle_rows(batch_of(500, 500), 0, 500, 1000)
    backend.stop()
    assert failures == [1]
    got = points(db_url, "a" * 32)
    assert [p[1] for p in got] == list(range(1000)), "each point once"
    assert query(db_url, "SELECT rows FROM delivered") == [(1000,)]


def test_a_name_too_long_for_the_column_is_rejected_once_and_the_rest_written(
    db_url: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(URL, db_url)
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__SQL__NAME_LENGTH", "16")
    long_name = "a_name_longer_than_sixteen"
    with caplog.at_level(logging.DEBUG), ft.start_run(experiment="exp", backends=["sql"]) as run:
        for step in range(300):
            run.log({"short": float(step), long_name: 1.0}, step=step)
            if step % 100 == 99:
                run.flush()
    got = points(db_url, run.run_id)
    assert [(p[2], p[3]) for p in got] == [("short", s) for s in range(300)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    about = [m for m in warnings if long_name in m]
    assert len(about) == 1, warnings
    assert "backend 'sql' rejected data" in about[0]
    assert run.run_id in about[0]
    assert "metrics.name (16 characters)" in about[0]
    assert "widen the column" in about[0]
    assert len(store_points(run.run_dir)) == 600, "the store keeps every point"


def test_a_wrong_password_degrades_at_once_and_is_never_shown(
    postgres: PostgresServer,
    pg_url: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "not-the-Secret-42"
    bad = pg_url.replace(postgres.password, wrong)
    monkeypatch.setenv(URL, bad)
    with caplog.at_level(logging.DEBUG), ft.start_run(experiment="exp", backends=["sql"]) as run:
        for step in range(100):
            run.log("x", float(step), step=step)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    about = [m for m in warnings if "backend 'sql'" in m]
    assert len(about) == 1, warnings
    assert "password authentication failed" in about[0]
    assert run.run_id in about[0]
    assert "ferrotrack:***@127.0.0.1" in about[0]
    assert "backend_configs.sql" in about[0]
    shown = cli("runs", "show", run.run_id, "--json").stdout
    health = json.loads(shown)["backends"]["sql"]
    assert health["state"] == "degraded"
    assert "password authentication failed" in health["error"]
    folder = cursor_folder(run.run_dir, "sql")
    saved = "".join(p.read_text() for p in folder.iterdir() if p.is_file())
    for text in (logged, shown, saved, (run.run_dir / "run.json").read_text()):
        assert wrong not in text
        assert postgres.password not in text
    monkeypatch.setenv(URL, pg_url)  # fixed: the sync fills it
    out = cli("sync", run.run_id, "--backend", "sql")
    assert postgres.password not in out.stdout + out.stderr
    assert same_points(points(pg_url, run.run_id), store_points(run.run_dir))


def test_an_unreachable_server_fails_fast_with_what_to_do(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    secret = "pw-never-shown"
    url = f"postgresql://someone:{secret}@127.0.0.1:{free_port()}/nothing"
    monkeypatch.setenv(URL, url)
    fast_failures(monkeypatch)
    began = time.monotonic()
    with caplog.at_level(logging.DEBUG), ft.start_run(experiment="exp", backends=["sql"]) as run:
        for step in range(100):
            run.log("x", float(step), step=step)
    assert time.monotonic() - began < 20
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    about = [m for m in warnings if "backend 'sql'" in m]
    assert len(about) == 1, warnings
    message = about[0]
    assert "is degraded" in message
    assert "postgresql+psycopg://someone:***@127.0.0.1" in message
    assert run.run_id in message
    assert "ferrotrack sync RUN --backend sql" in message
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert len(store_points(run.run_dir)) == 100


def test_the_default_database_is_a_sqlite_file_in_the_store_root(root: Path) -> None:
    with ft.start_run(experiment="exp", params={"a": {"b": 2}}, backends=["sql"]) as run:
        run.log("x", 1.0)
    database = root / "ferrotrack.sqlite"
    assert database.is_file()
    url = f"sqlite:///{database}"
    assert query(url, "SELECT key FROM params") == [("a.b",)]
    assert same_points(points(url, run.run_id), store_points(run.run_dir))
    state = json.loads((cursor_folder(run.run_dir, "sql") / "state.json").read_text())
    assert state["state"] == {"run_id": run.run_id, "database": url}


def test_a_relative_sqlite_path_is_taken_from_the_store_root(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL, "sqlite:///mirrors/runs.db")
    with ft.start_run(experiment="exp", backends=["sql"]) as run:
        run.log("x", 1.0)
    url = f"sqlite:///{root / 'mirrors' / 'runs.db'}"
    assert len(points(url, run.run_id)) == 1


def test_a_missing_driver_names_its_extra_and_degrades_at_once(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ferrotrack.backends.sql.backend import MissingDriverError
    from ferrotrack.core.errors import MissingDependencyError, PermanentBackendError

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    url = f"postgresql://u:pw-never-shown@127.0.0.1:{free_port()}/db"
    backend = SqlBackend()
    backend.initialize({"url": url})
    with pytest.raises(MissingDriverError, match=r"pip install ferrotrack-backends\[postgres\]"):
        backend.open_run(RunInfo("exp", "c" * 32, "n", root / "e" / "r", started=0), {})
    assert issubclass(MissingDriverError, MissingDependencyError)
    assert issubclass(MissingDriverError, PermanentBackendError)
    monkeypatch.setenv(URL, url)
    with caplog.at_level(logging.INFO), ft.start_run(experiment="exp", backends=["sql"]) as run:
        run.log("x", 1.0)
    about = [r.getMessage() for r in caplog.records if "backend 'sql'" in r.getMessage()]
    assert len(about) == 1, about
    assert "is degraded" in about[0]
    assert "ferrotrack-backends[postgres]" in about[0]


WRITER = """
import sys
import ferrotrack.core as ft

with ft.start_run(experiment="exp", backends=["sql"]) as run:
    print(run.run_id, flush=True)
    sys.stdin.readline()  # both processes log at once
    for step in range(20_000):
        run.log({"a": float(step), "b": 1.0}, step=step)
"""


@pytest.mark.slow
def test_two_processes_share_the_default_sqlite_file(root: Path) -> None:
    """Runs of several processes (or ranks) write one SQLite file: each waits for the
    other's write lock instead of failing, and every point goes in once."""
    import os
    import subprocess

    env = {**os.environ, "FERROTRACK_FLUSH_INTERVAL": "0.01"}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    ids = []
    for child in children:
        assert child.stdout is not None
        ids.append(child.stdout.readline().strip())
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.close()
    for child in children:
        assert child.wait(timeout=120) == 0
    url = f"sqlite:///{root / 'ferrotrack.sqlite'}"
    for run_id in ids:
        (run_dir,) = root.glob(f"experiment=exp/run={run_id}")
        stored = store_points(run_dir)
        assert len(stored) == 40_000
        assert same_points(points(url, run_id), stored)
        health = json.loads(cli("runs", "show", run_id, "--json").stdout)["backends"]["sql"]
        assert health["state"] == "ok", health
