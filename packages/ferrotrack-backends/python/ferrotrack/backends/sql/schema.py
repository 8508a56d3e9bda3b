"""The tables the ``sql`` backend writes (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Times are integers, nanoseconds since the epoch (UTC), as in the store: exact, and the same
on both databases (``docs/backends/sql.md`` shows how to turn them into timestamps). Keys
between tables are documented, not enforced: a run may name a parent that is mirrored later,
and points are copied without a per-row check.

``metrics`` has no primary key: a unique index costs PostgreSQL two thirds of its ``COPY``
rate, and exactly once rests on ``delivered`` (written in the points' transaction), not on
it. A BRIN index on ``(run_id, rank, row)`` finds a run's points: run ids are UUIDv7, so
ordered by time as the rows are written, and BRIN keeps one small summary per block range
instead of one entry per point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from ferrotrack.core.errors import PermanentBackendError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "EPOCHS_VIEW",
    "NAME_INDEX",
    "RUN_INDEX",
    "SCHEMA_VERSION",
    "SchemaVersionError",
    "artifacts",
    "check_version",
    "create_schema",
    "delivered",
    "events",
    "experiments",
    "metadata",
    "metrics",
    "name_width",
    "params",
    "runs",
    "schema_info",
    "tags",
]

SCHEMA_VERSION = 2
"""Written in ``schema_info`` (key ``version``). 1: ``metrics`` keyed by ``(run_id, rank,
row)``; 2: no key, the BRIN index :data:`RUN_INDEX` instead. ``docs/backends/sql.md``
says how to move a database from one to the next."""


class SchemaVersionError(PermanentBackendError):
    """The database holds another version of ferrotrack's tables (or tables of the same
    names that are not ferrotrack's): nothing is written there until it is migrated."""


RUN_ID = 128
"""A run id: core's are UUIDv7s (32 hex digits), but a run id of your own may have up to
128 characters (``[A-Za-z0-9][A-Za-z0-9_.-]{0,127}``); PostgreSQL refuses a longer value."""

Json = JSON().with_variant(JSONB(), "postgresql")
"""JSON (``jsonb`` on PostgreSQL); Python's ``None`` is the JSON ``null``."""
JsonOrNull = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
"""JSON, Python's ``None`` being SQL ``NULL``."""

metadata = MetaData()

schema_info = Table(
    "schema_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("created", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(RUN_ID), primary_key=True),
    Column("experiment", String(200), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("parent", String(RUN_ID), nullable=True, index=True),
    Column("status", String(16), nullable=False),
    Column("started", BigInteger, nullable=False),
    Column("ended", BigInteger, nullable=True),
    Column("run_dir", Text, nullable=False),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(RUN_ID), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", Json, nullable=True),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(RUN_ID), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)


RUN_INDEX = "metrics_run_rank_row"
"""``metrics (run_id, rank, row)``: BRIN on PostgreSQL (summaries of block ranges, made by
autovacuum as ranges fill), a b-tree on SQLite (which has no BRIN)."""

metrics = Table(
    "metrics",
    metadata,
    Column("run_id", String(RUN_ID), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("row", BigInteger, nullable=False),
    Column("name", String(1024), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    # SQLite has no NaN: it stores NULL, which this column holds for nothing else.
    Column("value", Double, nullable=True),
    Index(
        RUN_INDEX,
        "run_id",
        "rank",
        "row",
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    ),
)

NAME_INDEX = "metrics_run_name_step"
"""The optional index ``metrics (run_id, name, step)`` (``name_index``): fast queries by
name, half the write rate."""

artifacts = Table(
    "artifacts",
    metadata,
    Column("run_id", String(RUN_ID), primary_key=True),
    Column("name", Text, primary_key=True),
    Column("path", Text, nullable=False),
    Column("size", BigInteger, nullable=True),
    Column("logged", BigInteger, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("run_id", String(RUN_ID), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("time", BigInteger, nullable=False),
    Column("level", Text, nullable=True),
    Column("name", Text, nullable=True),
    Column("step", BigInteger, nullable=True),
    Column("message", Text, nullable=True),
    Column("rows", BigInteger, nullable=False),
    Column("payload", JsonOrNull, nullable=True),
    Index("events_run_level", "run_id", "level"),
)

delivered = Table(
    "delivered",
    metadata,
    Column("run_id", String(RUN_ID), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("rows", BigInteger, nullable=False),
)

EPOCHS_VIEW = """
CREATE VIEW epochs AS
SELECT run_id, rank, step AS epoch,
       MIN(CASE WHEN kind = 'level_start' THEN time END) AS started,
       MAX(CASE WHEN kind = 'level_end' THEN time END) AS ended,
       COUNT(*) AS events
FROM events
WHERE level = 'epoch' AND step IS NOT NULL
GROUP BY run_id, rank, step
"""
"""The Experiment Manager's epochs: level events whose level is ``epoch``, one row each."""


def create_schema(engine: Engine, width: int = 1024, *, name_index: bool = False) -> None:
    """Creates what is missing (tables, indexes, the ``epochs`` view); keeps what exists.

    Refuses (:class:`SchemaVersionError`) a database whose ferrotrack tables have another
    version, or tables of ferrotrack's names without its ``schema_info``: writing there
    could mix schemas. Two processes creating at once can collide on PostgreSQL; the loser
    sees the winner's tables on its retry (delivery retries a failed ``open_run``).
    """
    from sqlalchemy import inspect

    wanted = metadata if width == 1024 else _with_width(width)
    with engine.begin() as conn:
        check_version(conn)
        wanted.create_all(conn, checkfirst=True)
        if name_index and NAME_INDEX not in {
            i["name"] for i in inspect(conn).get_indexes("metrics")
        }:
            table = wanted.tables["metrics"]
            Index(NAME_INDEX, table.c.run_id, table.c.name, table.c.step).create(conn)
        if "epochs" not in inspect(conn).get_view_names():
            conn.execute(text(EPOCHS_VIEW))
        conn.execute(
            text(
                "INSERT INTO schema_info (key, value) SELECT 'version', :v "
                "WHERE NOT EXISTS (SELECT 1 FROM schema_info WHERE key = 'version')"
            ),
            {"v": str(SCHEMA_VERSION)},
        )


def check_version(conn: Connection) -> None:
    """Raises :class:`SchemaVersionError` unless the database has no ferrotrack tables yet
    or has this version of them."""
    from sqlalchemy import inspect, select

    present = set(inspect(conn).get_table_names())
    if "schema_info" not in present:
        ours = sorted(present & set(metadata.tables))
        if ours:
            raise SchemaVersionError(
                f"the database has tables named as ferrotrack's ({', '.join(ours)}) but no "
                "schema_info table: they are not ferrotrack's; give backend_configs.sql.url "
                "another database"
            )
        return
    found = conn.execute(select(schema_info.c.value).where(schema_info.c.key == "version")).scalar()
    if found == str(SCHEMA_VERSION):
        return
    if found is not None and found.isdigit() and int(found) > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the database holds ferrotrack's schema version {found}, newer than this "
            f"ferrotrack's ({SCHEMA_VERSION}): upgrade ferrotrack-backends"
        )
    raise SchemaVersionError(
        f"the database holds ferrotrack's schema version {found or '(none)'}, this ferrotrack "
        f"writes version {SCHEMA_VERSION}: migrate it as docs/backends/sql.md says "
        '("Schema versions": a few statements, or drop ferrotrack\'s tables and run '
        "`ferrotrack sync RUN --backend sql` for each run, the store keeps everything)"
    )


def _with_width(width: int) -> MetaData:
    """The schema with ``metrics.name`` ``width`` characters wide."""
    other = MetaData()
    for table in metadata.tables.values():
        if table.name == "metrics":
            copy = table.to_metadata(other)
            copy.c.name.type = String(width)
        else:
            table.to_metadata(other)
    return other


def name_width(conn: Connection) -> int | None:
    """The width of ``metrics.name`` in the database (``None``: unbounded)."""
    from sqlalchemy import inspect

    for column in inspect(conn).get_columns("metrics"):
        if column["name"] == "name":
            length = getattr(column["type"], "length", None)
            return int(length) if length else None
    return None
