"""What the server refuses: artifact paths leaving the run (raw requests, so no client
normalises them first), requests without the token; and markup returned as plain data."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store_fixtures as sf
from ui_server import UiServer


@pytest.fixture
def server(root: Path) -> Iterator[UiServer]:
    """A real server over the test's store (runs built into it after the start show up)."""
    with UiServer(root) as running:
        yield running


def raw_get(server: UiServer, target: str) -> tuple[int, bytes]:
    """Status and body of ``GET target`` sent byte for byte as written."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


@pytest.fixture
def files_run(root: Path, tmp_path: Path) -> sf.Built:
    built = sf.run_with_artifacts(root, tmp_path / "work")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    artifacts = built.folder / "artifacts"
    os.symlink(secret, artifacts / "link.txt")
    os.symlink(built.folder, artifacts / "up")
    os.symlink("../run.json", artifacts / "rel.json")
    return built


@pytest.mark.parametrize(
    "path",
    [
        "../run.json",
        "sub/../../run.json",
        "%2e%2e/run.json",
        "..%2frun.json",
        "sub%2fdeep.txt",
        "sub%2Fdeep.txt",
        "..%5crun.json",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "link.txt",
        "up/run.json",
        "rel.json",
        "notes.txt%00.png",
        "./notes.txt",
    ],
)
def test_artifact_escapes_are_refused(
    root: Path, files_run: sf.Built, server: UiServer, path: str
) -> None:
    status, body = raw_get(server, f"/api/runs/{files_run.run_id}/artifacts/{path}")
    assert status in (400, 404)
    assert b"SECRET" not in body
    assert b"run_id" not in body
    assert b"root:" not in body


def test_symlinks_are_not_listed(root: Path, files_run: sf.Built, server: UiServer) -> None:
    detail = httpx.get(f"{server.url}/api/runs/{files_run.run_id}").json()
    paths = {a["path"] for a in detail["artifacts"]}
    assert "link.txt" not in paths
    assert "rel.json" not in paths
    assert "notes.txt" in paths
    status, body = raw_get(server, f"/api/runs/{files_run.run_id}/artifacts/notes.txt")
    assert (status, body) == (200, b"hello artifact\nsecond line\n")


def test_html_is_returned_as_data(root: Path, server: UiServer) -> None:
    built = sf.html_run(root)
    page = httpx.get(f"{server.url}/api/runs")
    assert page.headers["content-type"] == "application/json"
    assert page.headers["x-content-type-options"] == "nosniff"
    [row] = page.json()["runs"]
    assert row["name"] == sf.HTML_TEXT
    assert row["params"] == {"note": sf.HTML_TEXT}
    assert row["tags"] == {"html": sf.HTML_TEXT}
    assert list(row["metrics"]) == [f"m{sf.HTML_TEXT}"]
    answer = httpx.get(
        f"{server.url}/api/series", params={"run": built.run_id, "name": f"m{sf.HTML_TEXT}"}
    )
    assert answer.json()["name"] == f"m{sf.HTML_TEXT}"


def test_token_is_required(root: Path) -> None:
    sf.make_runs(root, 1)
    with UiServer(root, token="s3cret") as server, httpx.Client(base_url=server.url) as http:
        for path in ("/api/runs", "/", "/openapi.json"):
            assert http.get(path).status_code == 401
        assert http.get("/api/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert http.get("/api/runs", params={"token": "s3cret!"}).status_code == 401
        ok = http.get("/api/runs", headers={"Authorization": "Bearer s3cret"})
        assert ok.json()["total"] == 1
        page = http.get("/", params={"token": "s3cret"})
        assert page.status_code == 200
        assert http.cookies.get("ferrotrack_token") == "s3cret"
        assert http.get("/api/runs").status_code == 200  # the page's own requests: cookie
