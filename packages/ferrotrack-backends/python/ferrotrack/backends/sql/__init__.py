"""The ``sql`` backend: runs mirrored into SQL tables through SQLAlchemy, a SQLite file by
default (``<store root>/ferrotrack.sqlite``), PostgreSQL with a URL (points with ``COPY``).

Tables: ``experiments``, ``runs`` (with ``parent``), ``params`` (dotted keys), ``tags``,
``metrics``, ``artifacts``, ``events``, the ``epochs`` view, and ``delivered`` (how far each
rank got, written with the points: every point exactly once). ``docs/backends/sql.md`` has
every column. SQLAlchemy is imported when a run opens, not with this package.
"""

from __future__ import annotations

from ferrotrack.backends.sql.backend import SqlBackend
from ferrotrack.backends.sql.config import SqlConfig

__all__ = ["SqlBackend", "SqlConfig"]
