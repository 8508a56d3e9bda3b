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
        "%252e%252e/run.json",
        "%2e%2e%2frun.json",
        "%EF%BC%8E%EF%BC%8E/run.json",
        "sub/%2e%2e/%2e%2e/run.json",
        "%c0%ae%c0%ae/run.json",
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


def test_artifact_swapped_for_a_symlink_after_the_check(
    root: Path, files_run: sf.Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race: the path passes the checks, then the file (or a folder on its way) is
    replaced by a symlink out of the run before it is opened. What is opened is checked."""
    from ferrotrack.ui.data import files
    from ferrotrack.ui.errors import NotFound

    checked = files._checked
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "deep.txt").write_text("SECRET")

    def swap_then_return(root_: Path, run_id: str, path: str) -> tuple[Path, Path]:
        base, target = checked(root_, run_id, path)
        moved = target.with_name(target.name + ".old")
        if path == "notes.txt":
            target.rename(moved)
            os.symlink(tmp_path / "secret.txt", target)
        else:  # sub/deep.txt: the folder becomes a link
            target.parent.rename(target.parent.with_name("sub.old"))
            os.symlink(outside, target.parent)
        return base, target

    monkeypatch.setattr(files, "_checked", swap_then_return)
    for path in ("notes.txt", "sub/deep.txt"):
        with pytest.raises(NotFound, match="refused"):
            files.open_artifact(root, files_run.run_id, path)


def test_not_found_does_not_name_the_store_folder(root: Path, server: UiServer) -> None:
    sf.make_runs(root, 1)
    for path in ("/api/runs/" + "0" * 32, "/api/runs/nope", "/api/compare?run=nope"):
        answer = httpx.get(server.url + path)
        assert answer.status_code == 404
        assert str(root) not in answer.text
        assert "in this store" in answer.json()["detail"]


def test_log_that_is_a_symlink_is_not_read(root: Path, tmp_path: Path, server: UiServer) -> None:
    built = sf.run_with_artifacts(root, tmp_path / "work")
    secret = tmp_path / "secret-log.txt"
    secret.write_text("SECRET")
    stderr = built.folder / "logs" / "stderr.txt"
    stderr.unlink()
    os.symlink(secret, stderr)
    assert httpx.get(f"{server.url}/api/runs/{built.run_id}").json()["logs"] == ["stdout"]
    answer = httpx.get(f"{server.url}/api/runs/{built.run_id}/logs/stderr")
    assert answer.status_code == 404
    assert "SECRET" not in answer.text
    assert httpx.get(f"{server.url}/api/runs/{built.run_id}/logs/stdout").status_code == 200
