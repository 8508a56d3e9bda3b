"""The ``sql`` backend: a run mirrored into tables of a SQL database through SQLAlchemy.

Points arrive as whole batches and go in with one bulk statement each (``COPY`` on
PostgreSQL). Exactly once: the batch and how far its rank got (``delivered``) are written
in one transaction, and a batch whose end the database already has is skipped, so a retry
after an unknown outcome, a resume or a ``ferrotrack sync`` never adds a point twice.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.sql.config import SqlConfig, store_root
from ferrotrack.core.errors import MissingDependencyError, PermanentBackendError
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType
from ferrotrack.core.plugins.imports import require

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL, Engine

    from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["MissingDriverError", "SqlBackend"]


class MissingDriverError(MissingDependencyError, PermanentBackendError):
    """A library the configured database needs is not installed: no retry can help, so
    delivery marks the backend degraded at once (the message says what to install)."""


_FINAL = frozenset({"finished", "failed", "killed", "crashed"})


class SqlBackend(BackendPlugin):
    """Mirrors runs into SQL tables (``docs/backends/sql.md``): experiments, runs with their
    parents, params, tags, metrics, artifacts, events and the ``epochs`` view."""

    config: SqlConfig

    def __init__(self) -> None:
        super().__init__()
        self._engine: Engine | None = None
        self._url: URL | None = None
        self._run_id = ""
        self._run_dir: Path | None = None
        self._width: int | None = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``sql``."""
        from ferrotrack.backends import __version__

        return PluginMetadata(
            name="sql",
            version=__version__,
            type=PluginType.BACKEND,
            description="Mirror runs into SQL tables (SQLite file, or PostgreSQL with COPY).",
            author="ferrotrack",
            dependencies=["sqlalchemy"],
            extra="sql",
            capabilities=frozenset(
                {"metrics", "params", "tags", "artifacts", "events", "status", "exactly_once"}
            ),
            config_model=SqlConfig,
        )

    @property
    def engine(self) -> Engine | None:
        """The SQLAlchemy engine, once a run is open."""
        return self._engine

    @property
    def url(self) -> URL | None:
        """The database's URL, once a run is open (print it with ``safe_url``)."""
        return self._url

    # ---- the contract ---------------------------------------------------------------------

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Connects, creates the tables that are missing, records the experiment, the run
        (parent, status, start), its whole params and tags. Idempotent: on a resume or a
        sync it updates the same row, never a second one."""
        if self.config is None:
            self.config = SqlConfig()
        self._run_id, self._run_dir = info.run_id, info.run_dir
        url = self._driver(store_root(info.run_dir))

        from ferrotrack.backends.sql import schema, writes
        from ferrotrack.backends.sql.errors import safe_url

        engine = self._connect(url)
        with self._guard("create its tables", opening=True):
            try:
                schema.create_schema(
                    engine, self.config.name_length, name_index=self.config.name_index
                )
            except schema.SchemaVersionError as exc:
                where = f"backend 'sql' ({safe_url(url)}) run {info.run_id}"
                raise schema.SchemaVersionError(f"{where}: {exc}") from exc
            with engine.connect() as conn:
                self._width = schema.name_width(conn)
        with self._guard("record the run", opening=True), engine.begin() as conn:
            writes.insert_new(
                conn, schema.experiments, [{"name": info.experiment, "created": info.started}]
            )
            row = {
                "id": info.run_id,
                "experiment": info.experiment,
                "name": info.name,
                "parent": info.parent,
                "status": info.status,
                "started": info.started,
                "run_dir": str(info.run_dir),
            }
            # A new row takes the store's status; later ones come through set_status.
            writes.upsert(conn, schema.runs, [row], keep={"status"})
            writes.set_params(conn, info.run_id, info.params)
            writes.set_tags(conn, info.run_id, dict(info.tags))
        state["run_id"] = info.run_id
        state["database"] = safe_url(url)

    def remote_rows(self) -> Mapping[int, int]:
        """Rows per rank the database holds (``delivered``), for delivery to start there."""
        from sqlalchemy import select

        from ferrotrack.backends.sql import schema

        table = schema.delivered
        with self._guard("read how far it got"), self._require().connect() as conn:
            found = conn.execute(
                select(table.c.rank, table.c.rows).where(table.c.run_id == self._run_id)
            ).all()
        return {int(rank): int(rows) for rank, rows in found}

    def handle_rows(self, batch: pa.RecordBatch, rank: int, start: int, end: int) -> None:
        """Store rows ``start..end`` of ``rank``: the points and ``delivered = end`` in one
        transaction; nothing when the database already has ``end``.

        ``metrics.row`` is ``start`` plus the point's index in ``batch``: the store's row
        index when the route keeps every point (then a batch overlapping what the database
        has is cut exactly); a unique, ordered number inside ``start..end`` otherwise.
        """
        import numpy as np

        from ferrotrack.backends.sql import bulk, schema, writes

        engine = self._require()
        table = schema.delivered
        rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
        batch, rows, rejected = self._acceptable(batch, rows)
        action = f"write points {start}..{end} of rank {rank}"
        with self._guard(action, points=True), engine.begin() as conn:
            have = writes.claim(conn, self._run_id, rank)
            if end <= have:
                return  # a retry of a batch that went through: already there
            if start < have:
                keep = rows >= have
                batch, rows = batch.filter(keep), rows[keep]
            bulk.insert_points(conn, batch, self._run_id, rank, rows)
            writes.upsert(conn, table, [{"run_id": self._run_id, "rank": rank, "rows": end}])
        if rejected:
            raise PermanentBackendError(rejected)

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """A batch without its store range (a direct call): it follows what the database
        has of ``rank``."""
        have = int(self.remote_rows().get(rank, 0))
        self.handle_rows(batch, rank, have, have + batch.num_rows)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """A batch without its rank (a direct call) is taken as rank 0's."""
        self.handle_points(batch, 0)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merges the delta into ``params`` (dotted keys)."""
        from ferrotrack.backends.sql import writes

        with self._guard("write params"), self._require().begin() as conn:
            writes.set_params(conn, self._run_id, params)

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """Sets the tags of the delta; ``None`` deletes one."""
        from ferrotrack.backends.sql import writes

        with self._guard("write tags"), self._require().begin() as conn:
            writes.set_tags(conn, self._run_id, tags)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """One ``artifacts`` row: its name, the run's copy, its size (files under a folder
        summed)."""
        from ferrotrack.backends.sql import schema, writes

        path = Path(path)
        row = {
            "run_id": self._run_id,
            "name": name or path.name,
            "path": str(path),
            "size": _size(path),
            "logged": time.time_ns(),
        }
        with self._guard("write an artifact"), self._require().begin() as conn:
            writes.upsert(conn, schema.artifacts, [row])

    def log_event(self, event: RunEvent) -> None:
        """One ``events`` row, keyed by rank and sequence number (a replay adds nothing)."""
        from ferrotrack.backends.sql import schema, writes

        fields = dataclasses.asdict(event)
        row = {
            "run_id": self._run_id,
            **{k: fields[k] for k in ("rank", "seq", "kind", "time", "level", "name", "step")},
            "message": event.message,
            "rows": event.rows,
            "payload": fields["data"] or None,
        }
        with self._guard("write an event"), self._require().begin() as conn:
            writes.insert_new(conn, schema.events, [row])

    def set_status(self, status: str) -> None:
        """``runs.status``; a final one also sets ``ended`` (the store's end time)."""
        from sqlalchemy import update

        from ferrotrack.backends.sql import schema

        values: dict[str, Any] = {"status": status}
        if status in _FINAL:
            values["ended"] = self._ended()
        elif status == "running":
            values["ended"] = None
        table = schema.runs
        with self._guard(f"set the status {status!r}"), self._require().begin() as conn:
            conn.execute(update(table).where(table.c.id == self._run_id).values(**values))

    def stop(self) -> None:
        """Closes the database connections."""
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()
        super().stop()

    def get_status(self) -> dict[str, Any]:
        """The plugin's status and the database (password hidden)."""
        from ferrotrack.backends.sql.errors import safe_url

        status = super().get_status()
        if self._url is not None:
            status["database"] = safe_url(self._url)
        return status

    # ---- helpers ----------------------------------------------------------------------

    def _driver(self, root: Path) -> URL:
        """The database URL, once its libraries are known to import: a missing one is
        permanent (the backend is marked degraded at once, with the ``pip install`` to run)."""
        try:
            require("sqlalchemy", "the sql backend", install="pip install ferrotrack-backends[sql]")
            url = self.config.resolve(root)
            if url.get_backend_name() == "postgresql":
                require(
                    "psycopg",
                    "the sql backend on PostgreSQL",
                    install="pip install ferrotrack-backends[postgres]",
                )
        except MissingDependencyError as exc:
            raise MissingDriverError(f"backend 'sql' run {self._run_id}: {exc}") from exc
        return url

    def _connect(self, url: URL) -> Engine:
        """The engine for ``url`` (kept while the URL stays the same)."""
        from ferrotrack.backends.sql.engine import create

        if self._engine is not None and self._url == url:
            return self._engine
        if self._engine is not None:
            self._engine.dispose()
        self._url = url
        self._engine = create(url, self.config)
        return self._engine

    def _require(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("backend 'sql': an item came before open_run")
        return self._engine

    @contextmanager
    def _guard(self, action: str, *, opening: bool = False, points: bool = False) -> Iterator[None]:
        """Turns a database failure into an error naming the backend, the database, the run
        and what to do (see :func:`~ferrotrack.backends.sql.errors.explain`)."""
        from sqlalchemy.exc import SQLAlchemyError

        from ferrotrack.backends.sql.errors import explain

        try:
            yield
        except (SQLAlchemyError, OSError) as exc:
            assert self._url is not None
            raise explain(
                exc,
                url=self._url,
                run_id=self._run_id,
                action=action,
                opening=opening,
                points=points,
            ) from exc

    def _acceptable(self, batch: pa.RecordBatch, rows: Any) -> tuple[pa.RecordBatch, Any, str]:
        """``batch`` and ``rows`` without points whose name the table cannot hold (wider
        than ``metrics.name``, or with a NUL), and what was left out (``""``: nothing)."""
        import numpy as np
        import pyarrow as pa

        from ferrotrack.core.plugins.arrow import name_codes

        names, codes = name_codes(batch)
        width = self._width
        bad = [
            i for i, n in enumerate(names) if "\x00" in n or (width is not None and len(n) > width)
        ]
        if not bad:
            return batch, rows, ""
        drop = np.isin(codes, bad)
        shown = ", ".join(
            repr(names[i][:60] + ("…" if len(names[i]) > 60 else "")) for i in bad[:3]
        )
        message = (
            f"backend 'sql' run {self._run_id}: {int(drop.sum())} points of "
            f"{len(bad)} metric(s) not written ({shown}): a name longer than metrics.name "
            f"({width} characters) or holding a NUL; rename them (a rename processor) or "
            "widen the column (ALTER TABLE metrics ALTER COLUMN name TYPE varchar(1024)); "
            "the store keeps every point"
        )
        keep = pa.array(~drop)
        return batch.filter(keep), rows[~drop], message

    def _ended(self) -> int:
        """The run's end time from its ``run.json``, else now."""
        from ferrotrack.core.store.jsonfile import read_json

        if self._run_dir is not None:
            try:
                ended = read_json(self._run_dir / "run.json").get("ended")
            except (OSError, ValueError):
                ended = None
            if isinstance(ended, int):
                return ended
        return time.time_ns()


def _size(path: Path) -> int | None:
    """Bytes of a file, or of the files under a folder; ``None`` when it is gone."""
    try:
        if path.is_dir():
            return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        return path.stat().st_size
    except OSError:
        return None
