"""Idempotent writes of a run's facts (run, params, tags, artifacts, events): each is an
upsert or an insert that ignores what is there, so a retried or replayed call changes
nothing the first one did."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.sql import schema
from ferrotrack.core.params import flatten

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection

__all__ = ["claim", "dumps", "insert_new", "set_params", "set_tags", "upsert"]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity (PostgreSQL's ``jsonb`` refuses them): they become the
    strings ``"nan"``, ``"inf"``, ``"-inf"``, as in the jsonl backend."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """The JSON text stored in ``params.value`` and ``events.payload``."""
    return json.dumps(_finite(value), default=str, allow_nan=False)


def _insert(conn: Connection, table: Table) -> Any:
    """The dialect's ``INSERT`` with ``ON CONFLICT`` (SQLite and PostgreSQL have the same);
    ``None`` for another database."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    return None


def _keys(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keep: Collection[str] = (),
) -> None:
    """Inserts ``rows``, replacing the non-key columns (but those in ``keep``) of rows
    whose key exists."""
    if not rows:
        return
    stmt = _insert(conn, table)
    keys = _keys(table)
    if stmt is None:  # another database: delete, then insert (same transaction)
        _delete_keys(conn, table, rows, keys)
        conn.execute(table.insert(), list(rows))
        return
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys and c not in keep}
    if update:
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=update)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, list(rows))


def insert_new(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts the ``rows`` whose key is not there yet; the others are left as they are."""
    if not rows:
        return
    stmt = _insert(conn, table)
    if stmt is None:
        for row in rows:
            where = [table.c[k] == row[k] for k in _keys(table)]
            from sqlalchemy import exists, select

            if not conn.execute(select(exists().where(*where))).scalar():
                conn.execute(table.insert(), [dict(row)])
        return
    conn.execute(stmt.on_conflict_do_nothing(index_elements=_keys(table)), list(rows))


def _delete_keys(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: list[str]
) -> None:
    from sqlalchemy import and_, delete, or_

    conn.execute(
        delete(table).where(or_(*(and_(*(table.c[k] == row[k] for k in keys)) for row in rows)))
    )


def claim(conn: Connection, run_id: str, rank: int) -> int:
    """Rows of ``rank`` the database holds (``delivered``), its row locked (created at 0
    when missing) until ``conn``'s transaction ends.

    ``metrics`` has no unique key to stop a second writer of the same rank (a sync beside
    the live run): this lock does. A second writer waits here, then reads the first one's
    committed count and skips or cuts what it covers.
    """
    from sqlalchemy import select

    table = schema.delivered
    key = {"run_id": run_id, "rank": rank}
    stmt = _insert(conn, table)
    if stmt is None:  # another database: lock what is there, insert what is not
        query = select(table.c.rows).where(table.c.run_id == run_id, table.c.rank == rank)
        have = conn.execute(query.with_for_update()).scalar()
        if have is None:
            conn.execute(table.insert(), [{**key, "rows": 0}])
        return int(have or 0)
    # An insert that meets the row updates it to itself: the row is locked either way, and
    # a writer waiting on another's new row sees it once that one commits.
    stmt = stmt.values(**key, rows=0).on_conflict_do_update(
        index_elements=_keys(table), set_={"rows": table.c.rows}
    )
    return int(conn.execute(stmt.returning(table.c.rows)).scalar_one())


def set_params(conn: Connection, run_id: str, params: Mapping[str, Any]) -> None:
    """Merges ``params`` (nested, as logged) into the run's dotted keys.

    A value replaces what was under its key: a scalar that replaces a nested object removes
    the object's keys (``a.b``, ``a.c``), an object that replaces a scalar removes it.
    """
    from sqlalchemy import delete, func, or_

    flat = flatten(params)
    if not flat:
        return
    table = schema.params
    stale = []
    for key in flat:
        parts = key.split(".")
        stale += [table.c.key == ".".join(parts[:i]) for i in range(1, len(parts))]
        prefix = key + "."
        stale.append(func.substr(table.c.key, 1, len(prefix)) == prefix)
    conn.execute(delete(table).where(table.c.run_id == run_id, or_(*stale)))
    upsert(
        conn,
        table,
        [{"run_id": run_id, "key": k, "value": _finite(v)} for k, v in flat.items()],
    )


def set_tags(conn: Connection, run_id: str, tags: Mapping[str, str | None]) -> None:
    """Sets tags; a ``None`` value deletes the tag."""
    from sqlalchemy import delete

    table = schema.tags
    gone = [k for k, v in tags.items() if v is None]
    if gone:
        conn.execute(delete(table).where(table.c.run_id == run_id, table.c.key.in_(gone)))
    upsert(
        conn,
        table,
        [{"run_id": run_id, "key": k, "value": str(v)} for k, v in tags.items() if v is not None],
    )
