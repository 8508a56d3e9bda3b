"""Database failures turned into one clear line: the backend, the database (password
hidden), the run, what failed, why, and what to do; never the password, never the SQL with
its thousands of parameters."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ferrotrack.core.errors import PermanentBackendError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["SqlBackendError", "explain", "safe_url"]

RETRY_HINT = (
    "delivery retries it; if it keeps failing the backend shows as degraded "
    "in `ferrotrack runs show RUN` and `ferrotrack sync RUN --backend sql` fills the gap "
    "once it is back (the store keeps every point)"
)
AUTH_HINT = (
    "check the user and password of backend_configs.sql.url (or backend_configs.sql.password), "
    "then run `ferrotrack sync RUN --backend sql`"
)
NO_DATABASE_HINT = (
    "create the database (e.g. `createdb NAME`) or fix backend_configs.sql.url, "
    "then run `ferrotrack sync RUN --backend sql`"
)

_AUTH = re.compile(r"(?i)password authentication failed|authentication failed|no password supplied")
_NO_DATABASE = re.compile(r'(?i)database "[^"]*" does not exist')


class SqlBackendError(RuntimeError):
    """A database failure that may pass (delivery retries it, then marks the backend
    degraded); the message says what to do."""


def safe_url(url: URL) -> str:
    """``url`` as text with its password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def _reason(exc: BaseException) -> str:
    """The driver's own words (first line), not SQLAlchemy's wrapper with the statement."""
    from sqlalchemy.exc import DBAPIError

    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(inner).strip() or type(inner).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = " ".join(lines[:2]) if lines else type(inner).__name__
    return reason[:500]


DATA_HINT = (
    "the database refused the value itself, so retrying cannot help: it is skipped (the "
    "store keeps it); widen the column or fix the value, then run "
    "`ferrotrack sync RUN --backend sql`"
)


def explain(
    exc: BaseException,
    *,
    url: URL,
    run_id: str,
    action: str,
    opening: bool = False,
    points: bool = False,
) -> Exception:
    """The error to raise for ``exc``, raised while doing ``action``.

    When ``opening`` (``open_run``), a refused password or a missing database is permanent:
    retrying cannot help, so delivery marks the backend degraded at once, with one warning.
    A value the database refuses (``DataError``: too long, out of range; ``IntegrityError``)
    in anything but points is permanent too: the same item would be refused forever.
    For points every failure is transient: skipping would lose points the cursor then
    counts (the backend checks their values before writing).
    """
    from sqlalchemy.exc import DataError, IntegrityError

    reason = _reason(exc)
    password = url.password
    if password and len(str(password)) >= 3:
        reason = reason.replace(str(password), "***")
    where = f"backend 'sql' ({safe_url(url)}) run {run_id or '?'}"
    if opening and _AUTH.search(reason):
        return PermanentBackendError(f"{where}: cannot {action}: {reason}; {AUTH_HINT}")
    if not points and isinstance(exc, (DataError, IntegrityError)):
        return PermanentBackendError(f"{where}: cannot {action}: {reason}; {DATA_HINT}")
    if opening and _NO_DATABASE.search(reason):
        return PermanentBackendError(f"{where}: cannot {action}: {reason}; {NO_DATABASE_HINT}")
    return SqlBackendError(f"{where}: cannot {action}: {reason}; {RETRY_HINT}")
