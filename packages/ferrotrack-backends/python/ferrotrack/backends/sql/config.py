"""Settings of the ``sql`` backend (``backend_configs.sql`` in ferrotrack's settings)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, SecretStr

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["DEFAULT_FILE", "SqlConfig", "store_root"]

DEFAULT_FILE = "ferrotrack.sqlite"
"""The SQLite file in the store's root when no ``url`` is given."""


def store_root(run_dir: Path) -> Path:
    """The store's root of a run folder (``<root>/experiment=<e>/run=<id>``)."""
    return run_dir.parent.parent


class SqlConfig(BaseModel):
    """Which database, and how long to wait for it.

    ``url`` is a SQLAlchemy URL; it may hold a password, so it is a secret (printed as
    ``**********``) and every message shows it with the password hidden. A relative SQLite
    path is taken from the store's root, so a live run and a later ``ferrotrack sync`` from
    anywhere write the same file.
    """

    model_config = ConfigDict(extra="forbid")

    url: SecretStr | None = None
    """``sqlite:///runs.sqlite``, ``postgresql://user:pw@host/db`` (psycopg 3 is used for
    ``postgresql``); default ``sqlite:///<store root>/ferrotrack.sqlite``."""
    password: SecretStr | None = None
    """The database password, when it is kept out of ``url`` (it then replaces the URL's)."""
    echo: bool = False
    """Log every SQL statement SQLAlchemy sends (``sqlalchemy.engine`` logger)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to wait for a connection, so an unreachable server fails fast (delivery
    then retries with backoff and marks the backend degraded; the run never waits)."""
    busy_timeout: float = Field(default=30.0, ge=0)
    """SQLite: seconds to wait for another process's write lock (runs sharing one file)."""
    pool_size: int = Field(default=1, ge=1)
    """Connections kept open per process (one delivery thread uses one)."""
    name_index: bool = False
    """Create the index ``metrics (run_id, name, step)`` with the schema: queries by metric
    name get fast, writes about half as fast (PostgreSQL maintains it on every point).
    ``docs/backends/sql.md`` shows how to add it later instead."""
    name_length: int = Field(default=1024, ge=1, le=10_000)
    """Width of ``metrics.name`` when the schema is created (store names have at most 1024
    bytes); the width of an existing table is read from the database."""

    def resolve(self, root: Path) -> URL:
        """The URL to connect to, for a store whose root is ``root``."""
        from sqlalchemy.engine import make_url

        raw = self.url.get_secret_value() if self.url is not None else None
        if raw is None:
            return make_url(f"sqlite:///{root / DEFAULT_FILE}")
        url = make_url(raw)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = Path(url.database).expanduser()
            if not path.is_absolute() and not url.database.startswith("file:"):
                url = url.set(database=str(root / path))
        if self.password is not None:
            url = url.set(password=self.password.get_secret_value())
        return url
