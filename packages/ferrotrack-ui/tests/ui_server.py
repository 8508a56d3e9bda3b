"""A real uvicorn server of ``create_app`` on 127.0.0.1 and a free port, in a thread of the
test process, for the API tests (H4) and the browser tests (H5).

>>> with UiServer(root) as server:                       # doctest: +SKIP
...     httpx.get(server.url + "/api/runs").json()
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest
import uvicorn

from ferrotrack.ui.server import create_app

__all__ = ["UiServer", "free_port", "ui_server"]

START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class UiServer:
    """``create_app(root, token)`` served by uvicorn on ``127.0.0.1:port`` until stopped."""

    def __init__(self, root: Path, *, token: str | None = None, port: int | None = None) -> None:
        self.root = root
        self.token = token
        self.port = port or free_port()
        config = uvicorn.Config(create_app(root, token=token), host="127.0.0.1",
                                port=self.port, log_level="warning", lifespan="off")  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ui-server", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> UiServer:
        """Starts the server and returns once it accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the UI server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Asks the server to exit and waits for its thread."""
        self.server.should_exit = True
        self.thread.join(timeout=START_TIMEOUT)

    def __enter__(self) -> UiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@pytest.fixture
def ui_server(root: Path) -> Iterator[UiServer]:
    """A server over the test's store ``root`` (build runs into it before requesting)."""
    with UiServer(root) as server:
        yield server
