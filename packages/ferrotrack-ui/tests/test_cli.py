"""``ferrotrack ui`` as a user runs it: a subprocess that prints its URL and serves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import store_fixtures as sf

from ferrotrack.ui.cli import is_loopback

URL = re.compile(r"ferrotrack ui: (http://\S+)")


@contextmanager
def serve(root: Path, *args: str, stderr: list[str] | None = None) -> Iterator[str]:
    """Runs ``ferrotrack --root root ui ARGS``; yields the URL it printed and stops it
    (then appends what it wrote to stderr to ``stderr``, when given)."""
    command = [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(root), "ui", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # blocks until printed or the process ends
        match = URL.search(line)
        if match is None:
            proc.kill()
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"no URL printed: {line!r} {err!r}")
        yield match.group(1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        if stderr is not None:
            stderr.append(err)


def wait_up(url: str, **kwargs: object) -> httpx.Response:
    """The first answer of the server (it printed its URL before accepting)."""
    import time

    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, **kwargs)  # type: ignore[arg-type]
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_loopback_by_default_without_token(root: Path) -> None:
    sf.make_runs(root, 2)
    with serve(root) as url:
        assert url.startswith("http://127.0.0.1:")
        assert "token" not in url
        answer = wait_up(url + "api/runs")
        assert answer.json()["total"] == 2


def test_non_loopback_host_gets_a_generated_token(root: Path) -> None:
    sf.make_runs(root, 1)
    err: list[str] = []
    with serve(root, "--host", "0.0.0.0", stderr=err) as url:
        match = re.match(r"http://0\.0\.0\.0:(\d+)/\?token=(\S+)$", url)
        assert match is not None, url
        port, token = match.groups()
        assert len(token) >= 32
        base = f"http://127.0.0.1:{port}"
        assert wait_up(base + "/api/runs").status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(base + "/api/runs", headers=auth).json()["total"] == 1
        page = httpx.get(base + "/", params={"token": token})
        cookie = page.headers["set-cookie"].lower()
        assert "httponly" in cookie
        assert "samesite=strict" in cookie
        assert httpx.get(base + "/api/runs", params={"token": token[:-1]}).status_code == 401
    assert token not in err[0]  # no access log carries it


def test_given_token_and_insecure_flag(root: Path) -> None:
    sf.make_runs(root, 1)
    with serve(root, "--token", "abc") as url:
        assert url.endswith("/?token=abc")
        assert wait_up(url.split("?")[0] + "api/runs").status_code == 401
        assert httpx.get(url.split("?")[0] + "api/runs?token=abc").status_code == 200
    err: list[str] = []
    with serve(root, "--host", "0.0.0.0", "--insecure-no-token", stderr=err) as url:
        assert "token" not in url
        port = url.rsplit(":", 1)[1].strip("/")
        assert wait_up(f"http://127.0.0.1:{port}/api/runs").status_code == 200
    assert "without a token: anyone who reaches it reads every run" in err[0]


def test_bad_options_are_refused(root: Path) -> None:
    base = [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(root)]
    root.mkdir(parents=True, exist_ok=True)
    both = subprocess.run([*base, "ui", "--token", "a", "--insecure-no-token"],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert both.returncode == 2
    assert "exclude each other" in both.stderr
    missing = subprocess.run([*base[:-1], str(root / "nope"), "ui"], capture_output=True,
                             text=True, check=False, timeout=60)  # fmt: skip
    assert missing.returncode == 1
    assert "does not exist" in missing.stderr


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("::", False), ("192.168.1.2", False), ("example.org", False)],
)  # fmt: skip
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
