"""The SQLAlchemy engine of a database URL, tuned for the backend's single writer thread:
a connection timeout so an unreachable server fails fast, a liveness check so a server
that restarted is reconnected to, and on SQLite a write lock taken at ``BEGIN`` with a busy
timeout, so runs sharing one file wait for each other instead of failing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.sql.writes import dumps

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from ferrotrack.backends.sql.config import SqlConfig

__all__ = ["create"]


def create(url: URL, config: SqlConfig) -> Engine:
    """An engine for ``url`` (no connection made yet)."""
    from sqlalchemy import create_engine, event

    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            from pathlib import Path

            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=config.echo,
            json_serializer=dumps,
            connect_args={"timeout": config.busy_timeout},
        )
        busy_ms = int(config.busy_timeout * 1000)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's BEGIN below, not the driver's
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        # libpq takes whole seconds, and treats 1 as 2.
        connect_args["connect_timeout"] = max(2, math.ceil(config.connect_timeout))
        connect_args["application_name"] = "ferrotrack"
    return create_engine(
        url,
        echo=config.echo,
        json_serializer=dumps,
        pool_pre_ping=True,
        pool_size=config.pool_size,
        max_overflow=1,
        pool_timeout=config.connect_timeout,
        connect_args=connect_args,
    )
