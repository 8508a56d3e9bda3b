"""A throwaway PostgreSQL server for the sql backend's tests: Debian's real server, not a mock.

``initdb`` into a fresh folder under ``/tmp``, ``postgres`` on 127.0.0.1 (a free port) and a
unix socket in that folder, password (scram) auth over TCP so a wrong password is refused,
trust over the socket. As root the server runs as the unprivileged ``postgres`` user
(``runuser``), as PostgreSQL requires. Started once per test session (:func:`postgres`),
stopped with ``pg_ctl stop -m immediate`` at the end; the outage tests stop and start it
in between. A test gets a database of its own (:func:`pg_url`).

No server binaries: the fixture fails (never skips) and says to run
``scripts/system/postgres.sh``.
"""

from __future__ import annotations

import atexit
import math
import os
import pwd
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "PostgresServer",
    "cli",
    "db_url",
    "find_bindir",
    "pg_url",
    "points",
    "postgres",
    "query",
    "same_points",
    "store_points",
]

INSTALL_HINT = "run `bash scripts/system/postgres.sh` as root (it installs Debian's postgresql)"
SUPERUSER = "ferrotrack"


def find_bindir() -> Path | None:
    """The folder holding ``postgres``, ``initdb`` and ``pg_ctl`` (newest version first)."""
    candidates: list[Path] = []
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))

    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("postgres", "initdb", "pg_ctl")):
            return folder
    return None


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster in ``folder``; :meth:`start`, :meth:`stop`, :meth:`url`."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.as_user: list[str] = []
        self._owner: tuple[int, int] | None = None
        if os.geteuid() == 0:  # postgres refuses to run as root
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(f"running as root and there is no 'postgres' user: {INSTALL_HINT}")
            self._owner = (entry.pw_uid, entry.pw_gid)
            runuser = shutil.which("runuser")
            if runuser:
                self.as_user = [runuser, "-u", "postgres", "--"]
            else:
                setpriv = shutil.which("setpriv")
                assert setpriv, "neither runuser nor setpriv found to drop root"
                self.as_user = [
                    setpriv,
                    f"--reuid={entry.pw_uid}",
                    f"--regid={entry.pw_gid}",
                    "--clear-groups",
                ]

    # ---- lifecycle ----------------------------------------------------------------------

    def init(self) -> None:
        """``initdb``: superuser ``ferrotrack`` with a random password, scram over TCP."""
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._owner is not None:
            os.chown(self.folder, *self._owner)
            os.chown(pwfile, *self._owner)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        pwfile.unlink()

    def start(self, timeout: float = 60.0) -> None:
        """Starts the server and waits (polling, with a deadline) until it takes connections.

        ``fsync=off`` (a test cluster: a crash of the OS is not a case here); commits stay
        synchronous, so an immediate stop loses nothing a client saw committed.
        """
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.folder}",
                "-c fsync=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "start")
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL did not accept connections in {timeout}s:\n{self.tail()}")
            time.sleep(0.05)

    def ready(self) -> bool:
        """Whether the server answers on its TCP port (``pg_isready``)."""
        out = subprocess.run(
            [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
            check=False,
            capture_output=True,
        )
        return out.returncode == 0

    def stop(self) -> None:
        """``pg_ctl stop -m immediate``: like a crash of the server (clients see a broken
        connection, nothing committed is lost). Does nothing when it is not running."""
        if not (self.data / "postmaster.pid").exists():
            return
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        """Stops the server and deletes its folder."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    # ---- use --------------------------------------------------------------------------

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """A SQLAlchemy URL (psycopg 3) of ``database`` over TCP."""
        secret = self.password if password is None else password
        return f"postgresql+psycopg://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """Runs ``sql`` (autocommit) over the unix socket; the rows it returned."""
        import psycopg

        with psycopg.connect(
            host=str(self.folder),
            port=self.port,
            user=SUPERUSER,
            dbname=database,
            autocommit=True,
        ) as conn:
            cur = conn.execute(sql)
            return list(cur.fetchall()) if cur.description else []

    def create_database(self, name: str) -> str:
        """A fresh database; its URL."""
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def tail(self, lines: int = 30) -> str:
        """The end of the server's log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self.as_user, str(self.bindir / tool), *args]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.folder)
        if out.returncode != 0:
            pytest.fail(
                f"{tool} failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}\n"
                f"{self.tail()}"
            )


_server: PostgresServer | None = None


def _shared_server() -> PostgresServer:
    """The session's server, started on first use (shared by every module that imports
    the fixture, since each import registers its own fixture definition)."""
    global _server
    if _server is None:
        bindir = find_bindir()
        if bindir is None:
            pytest.fail(
                "the sql backend's tests need a PostgreSQL server and none is installed "
                f"(no postgres/initdb/pg_ctl under /usr/lib/postgresql/*/bin): {INSTALL_HINT}"
            )
        folder = Path(tempfile.mkdtemp(prefix="ferrotrack-pg-"))
        folder.chmod(0o755)
        server = PostgresServer(bindir, folder)
        try:
            server.init()
            server.start()
        except BaseException:
            server.remove()
            raise
        _server = server
        atexit.register(_shutdown)  # also when the session ends without its teardown
    elif not _server.ready():  # a test stopped it and failed before starting it again
        _server.start()
    return _server


def _shutdown() -> None:
    global _server
    if _server is not None:
        _server.remove()
        _server = None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (started once, removed at the end)."""
    yield _shared_server()
    _shutdown()


_databases = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    """The URL of a fresh database of the session's server, for one test."""
    if not postgres.ready():
        postgres.start()
    return postgres.create_database(f"t{os.getpid()}_{next(_databases)}")


# ---- fixtures and helpers of the sql tests -------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind: a SQLite file, a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mirror.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def query(url: str, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """The rows ``sql`` returns from the database at ``url`` (a fresh connection)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def points(url: str, run_id: str) -> list[tuple[int, int, str, int, int, float]]:
    """``(rank, row, name, step, timestamp, value)`` of a run's points, by rank and row;
    SQLite's NULL (how it stores NaN) read back as NaN."""
    found = query(
        url,
        'SELECT "rank", "row", name, step, "timestamp", value FROM metrics '
        'WHERE run_id = :r ORDER BY "rank", "row"',
        r=run_id,
    )
    return [
        (int(k), int(w), str(n), int(s), int(t), math.nan if v is None else float(v))
        for k, w, n, s, t, v in found
    ]


def store_points(run_dir: Path) -> list[tuple[int, int, str, int, int, float]]:
    """The same tuples read from the store (every rank, in row order): what the database
    must hold, each point once."""
    import pyarrow as pa

    from ferrotrack.core.delivery.source import read_points, store_ranks

    out: list[tuple[int, int, str, int, int, float]] = []
    for rank in store_ranks(run_dir):
        table = read_points(run_dir, rank, 0, 2**40)
        names = table.column("name").cast(pa.string()).to_pylist()
        steps = table.column("step").to_pylist()
        stamps = table.column("timestamp").cast(pa.int64()).to_pylist()
        values = table.column("value").to_pylist()
        out += [
            (rank, row, n, s, t, v)
            for row, (n, s, t, v) in enumerate(zip(names, steps, stamps, values, strict=True))
        ]
    return out


def same_points(
    a: list[tuple[int, int, str, int, int, float]], b: list[tuple[int, int, str, int, int, float]]
) -> bool:
    """Equal point lists, floats compared bit for bit (``-0.0`` is not ``0.0``; NaN is NaN)."""

    def key(p: tuple[int, int, str, int, int, float]) -> tuple[object, ...]:
        value = p[5]
        return (*p[:5], "nan" if math.isnan(value) else struct.pack(">d", value))

    return [key(p) for p in a] == [key(p) for p in b]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ferrotrack ARGS`` in a child process (the environment of the test)."""
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "ferrotrack.core.cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    if check and out.returncode != 0:
        raise AssertionError(f"ferrotrack {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out
