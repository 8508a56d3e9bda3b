"""A real ``mlflow server`` on loopback for the mlflow backend's tests (SQLite backend
store, artifacts in a folder), and the fixtures that share one per test module.

Start-up costs about 10 s on two cores (first start migrates the database; a restart on
the same database is quicker), so each test module shares one server. The server runs in
a session of its own, so :meth:`MlflowServer.kill` takes its uvicorn worker with it, and
:meth:`MlflowServer.start` brings it back on the same port and database (outage tests).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

__all__ = ["MlflowServer", "free_port", "mlflow_server_fixture", "wait_for"]

START_TIMEOUT = 120.0
"""Seconds a start may take before the fixture gives up (CI machines are slow)."""


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: object, timeout: float, what: str, interval: float = 0.05) -> None:
    """Polls ``condition()`` until it is true; fails the test after ``timeout`` seconds."""
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class MlflowServer:
    """One ``mlflow server`` process group on ``127.0.0.1:port`` over ``folder``."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = folder / "server.log"
        self._log: IO[bytes] | None = None
        self.start_seconds: list[float] = []

    @property
    def uri(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The server's command line (the venv's ``mlflow`` script, else ``-m mlflow``)."""
        script = Path(sys.executable).with_name("mlflow")
        head = [str(script)] if script.is_file() else [sys.executable, "-m", "mlflow"]
        return [
            *head,
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{self.folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(self.folder / "artifacts"),
        ]

    def healthy(self) -> bool:
        """Whether ``GET /health`` answers 200 now."""
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=1.0) as reply:
                return bool(reply.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Starts the server and waits (polling ``/health``) until it answers."""
        assert self.process is None, "already started"
        self.folder.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner: starts faster
        env.pop("MLFLOW_TRACKING_URI", None)
        self._log = self.log_path.open("ab")
        began = time.monotonic()
        self.process = subprocess.Popen(
            self.command(),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.folder,
            start_new_session=True,
        )
        deadline = began + timeout
        while not self.healthy():
            if self.process.poll() is not None:
                self._forget()
                pytest.fail(f"mlflow server exited at start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"mlflow server not healthy after {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)
        self.start_seconds.append(time.monotonic() - began)

    def kill(self) -> None:
        """SIGKILL to the whole process group (server and worker); waits until the port
        refuses connections."""
        self._signal(signal.SIGKILL, 10.0)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if not self._signal(signal.SIGTERM, 10.0):
            self._signal(signal.SIGKILL, 10.0)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's output."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, sig: signal.Signals, timeout: float) -> bool:
        process = self.process
        if process is None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        deadline = time.monotonic() + timeout
        while self.healthy() and time.monotonic() < deadline:  # the worker goes with it
            time.sleep(0.05)
        self._forget()
        return True

    def _forget(self) -> None:
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@pytest.fixture(scope="module", name="mlflow_server")
def mlflow_server_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """One running server for the test module; stopped at its end. A test that kills it
    calls ``start()`` again (same port, same database)."""
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server"))
    server.start()
    try:
        yield server
    finally:
        server.stop()
