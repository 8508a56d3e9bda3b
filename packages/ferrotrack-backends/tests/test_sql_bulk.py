"""Points through the bulk path and back out of a real database (SQLite, PostgreSQL):
names, steps, timestamps and values as logged (property test), sliced batches, and the
``row`` numbers of a route that keeps only some names."""

from __future__ import annotations

import math
import struct
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.backends.sql import SqlBackend
from ferrotrack.backends.sql.bulk import SIGNATURE, TRAILER, copy_binary
from ferrotrack.core.delivery.replay import sync_run
from ferrotrack.core.records import RunInfo
from ferrotrack.core.testing import point_batch as batch_of

sys.path.insert(0, str(Path(__file__).parent))
from postgres_server import (
    db_url,
    pg_url,
    points,
    postgres,
    query,
    same_points,
    store_points,
)

__all__ = ["db_url", "pg_url", "postgres"]  # fixtures used here

Point = tuple[str, int, int, float]

rows_strategy = st.lists(
    st.tuples(
        st.text(
            st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
            min_size=1,
            max_size=40,
        ),
        st.integers(-(2**63), 2**63 - 1),
        st.integers(0, 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    min_size=1,
    max_size=80,
)


def bits(value: float, sqlite: bool) -> object:
    """A float compared bit for bit; SQLite keeps no NaN (NULL) and no -0.0 (0)."""
    if math.isnan(value):
        return "nan"
    if sqlite and value == 0:
        value = 0.0
    return struct.pack(">d", value)


def test_points_round_trip_through_the_database(db_url: str, tmp_path: Path) -> None:
    backend = SqlBackend()
    backend.initialize({"url": db_url})
    sqlite = db_url.startswith("sqlite")

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(rows_strategy, st.integers(0, 7), st.integers(0, 2**40))
    def check(rows: list[Point], rank: int, start: int) -> None:
        from sqlalchemy import text

        run_id = uuid.uuid4().hex
        backend.open_run(RunInfo("exp", run_id, "p", tmp_path / "e" / "r", started=0), {})
        backend.handle_rows(batch_of(rows), rank, start, start + len(rows))
        assert backend.engine is not None
        with backend.engine.connect() as conn:
            got = conn.execute(
                text(
                    'SELECT "rank", "row", name, step, "timestamp", value FROM metrics '
                    'WHERE run_id = :r ORDER BY "row"'
                ),
                {"r": run_id},
            ).all()
        assert [tuple(g[:5]) for g in got] == [
            (rank, start + i, n, s, t) for i, (n, s, t, _) in enumerate(rows)
        ]
        back = [math.nan if g[5] is None else float(g[5]) for g in got]
        assert [bits(v, sqlite) for v in back] == [bits(r[3], sqlite) for r in rows]

    with backend:
        check()


def test_binary_copy_data_is_framed_and_a_sliced_batch_gives_only_its_rows() -> None:
    import numpy as np

    rows: list[Point] = [(f"m{i % 3}", i, 1000 + i, float(i)) for i in range(10)]
    part = batch_of(rows).slice(3, 4)
    data = copy_binary(part, "r" * 32, 2, np.arange(3, 7))
    assert data.startswith(SIGNATURE)
    assert data.endswith(TRAILER)
    body = data[len(SIGNATURE) : -len(TRAILER)]
    # field count; run_id; rank; row, step, timestamp, value; the name's length
    fixed = 2 + (4 + 32) + (4 + 4) + 4 * (4 + 8) + 4
    sizes = [fixed + len(f"m{i % 3}") for i in range(3, 7)]
    assert len(body) == sum(sizes)
    assert struct.unpack(">h", body[:2]) == (7,)
    assert copy_binary(part.slice(0, 0), "r" * 32, 0, np.arange(0)) == b""


def test_a_sliced_batch_goes_in_whole(db_url: str, tmp_path: Path) -> None:
    rows: list[Point] = [(f"m{i % 3}", i, 1000 + i, float(i)) for i in range(10)]
    backend = SqlBackend()
    backend.initialize({"url": db_url})
    with backend:
        backend.open_run(RunInfo("exp", "b" * 32, "p", tmp_path, started=0), {})
        backend.handle_rows(batch_of(rows).slice(3, 4), 0, 3, 7)
    got = points(db_url, "b" * 32)
    assert [(p[1], p[2], p[3], p[4], p[5]) for p in got] == [
        (i, f"m{i % 3}", i, 1000 + i, float(i)) for i in range(3, 7)
    ]


def test_a_route_keeping_some_names_writes_them_once(
    db_url: str, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches then hold fewer points than the store rows they cover: ``row`` numbers stay
    unique and ordered, ``delivered`` counts store rows, a sync sends nothing again."""
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__SQL__URL", db_url)
    monkeypatch.setenv("FERROTRACK_ROUTING", '{"sql": {"include": ["loss"]}}')
    with ft.start_run(experiment="exp", backends=["sql"]) as run:
        for step in range(2000):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 2000}, step=step)
            if step % 500 == 499:
                run.flush()
    backend = SqlBackend()
    backend.initialize({"url": db_url})
    with backend:
        report = sync_run(run.run_dir, backend, include=["loss"])
    assert report.ok, report.last_error
    assert report.points_sent == 0
    got = points(db_url, run.run_id)
    wanted = [p for p in store_points(run.run_dir) if p[2] == "loss"]
    assert [(p[2], p[3], p[4]) for p in got] == [(p[2], p[3], p[4]) for p in wanted]
    row_numbers = [p[1] for p in got]
    assert row_numbers == sorted(set(row_numbers)), "unique and in order"
    assert query(db_url, "SELECT rows FROM delivered") == [(4000,)]
    assert same_points([(*p[:1], 0, *p[2:]) for p in got], [(*p[:1], 0, *p[2:]) for p in wanted]), (
        "values bit for bit"
    )
