"""The HTTP API against a real uvicorn server on loopback, through httpx."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import store_fixtures as sf
from hypothesis import given
from hypothesis import strategies as st
from ui_server import UiServer

import ferrotrack.core as ft
from ferrotrack.ui.data.runs import index_for
from ferrotrack.ui.server import create_app
from ferrotrack.ui.server.routes import RANGE_PATTERN, parse_range


@pytest.fixture
def server(root: Path) -> Iterator[UiServer]:
    """A real server over the test's store (runs built into it after the start show up)."""
    with UiServer(root) as running:
        yield running


def test_runs_experiments_and_detail(root: Path, server: UiServer) -> None:
    built = sf.make_runs(root, 4)
    sf.failed_run(root, experiment="other")
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/api/experiments").json()["experiments"][1] == {
            "name": "other",
            "runs": 1,
            "running": 0,
            "failed": 1,
        }
        page = http.get(
            "/api/runs",
            params={
                "experiment": "exp",
                "sort": "name",
                "desc": "false",
                "tag": "team:red",
                "param": "layers:3:",
            },
        ).json()
        assert [r["name"] for r in page["runs"]] == ["run-2"]
        page = http.get("/api/runs", params={"metric": "train/loss::0.12", "limit": 1}).json()
        assert page["total"] == 2
        assert len(page["runs"]) == 1
        assert http.get("/api/runs", params={"status": "failed"}).json()["total"] == 1
        detail = http.get(f"/api/runs/{built[0].run_id}").json()
        assert detail["params"]["optim"]["name"] == "adam"
        bad = http.get("/api/runs", params={"param": "layers:x:1"})
        assert bad.status_code == 422
        assert "layers:x:1" in bad.text
        bad = http.get(
            "/api/series",
            params={"run": built[0].run_id, "name": "train/loss", "after": "c0-1", "points": 2},
        )
        assert bad.status_code == 422


def test_not_found_is_404_with_a_message(root: Path, server: UiServer) -> None:
    [run] = sf.make_runs(root, 1)
    with httpx.Client(base_url=server.url) as http:
        for path, text in [
            ("/api/runs/" + "0" * 32, "no run"),
            ("/api/runs/nothing", "no run matches"),
            (f"/api/series?run={run.run_id}&name=nope", "no metric 'nope'"),
            ("/api/experiments/nope/parallel?metric=train/loss", "no experiment 'nope'"),
            (f"/api/runs/{run.run_id}/artifacts/missing.txt", "no artifact"),
            (f"/api/runs/{run.run_id}/logs/stdout", "has no stdout log"),
            (f"/api/runs/{run.run_id}/logs/other", "no log stream"),
        ]:
            answer = http.get(path)
            assert answer.status_code == 404, path
            assert text in answer.json()["detail"], path


def test_series_compare_parallel(root: Path, server: UiServer) -> None:
    a, b = sf.make_runs(root, 2)
    with httpx.Client(base_url=server.url) as http:
        out = http.get(
            "/api/series", params={"run": [a.run_id, b.run_id], "name": "train/loss", "points": 8}
        ).json()
        assert [s["run_id"] for s in out["series"]] == [a.run_id, b.run_id]
        assert all(s["returned"] <= 8 and s["total"] == 20 for s in out["series"])
        cmp = http.get("/api/compare", params={"run": [a.run_id, b.run_id]}).json()
        assert cmp["differing"] == ["layers", "optim.lr", "optim.name"]
        par = http.get("/api/experiments/exp/parallel", params={"metric": "val/acc"}).json()
        assert len(par["rows"]) == 2


def test_live_series_through_http(root: Path, server: UiServer) -> None:
    run = ft.start_run("live", experiment="exp", root=root)
    with httpx.Client(base_url=server.url) as http:
        first = http.get("/api/series", params={"run": run.run_id, "name": "loss"}).json()
        cursor = first["series"][0]["cursor"]
        run.log("loss", 1.0, step=0)
        run.log("loss", 2.0, step=1)
        run.flush()
        new = http.get(
            "/api/series", params={"run": run.run_id, "name": "loss", "after": cursor}
        ).json()
        assert new["series"][0]["y"] == [1.0, 2.0]
        run.finish()
        again = http.get(
            "/api/series",
            params={"run": run.run_id, "name": "loss", "after": new["series"][0]["cursor"]},
        ).json()
        assert again["series"][0]["y"] == []


def test_artifacts_previews_and_logs(root: Path, tmp_path: Path, server: UiServer) -> None:
    built = sf.run_with_artifacts(root, tmp_path / "work")
    base = f"/api/runs/{built.run_id}"
    with httpx.Client(base_url=server.url) as http:
        down = http.get(f"{base}/artifacts/notes.txt")
        assert down.text == "hello artifact\nsecond line\n"
        assert down.headers["content-disposition"].startswith("attachment")
        assert http.get(f"{base}/artifacts/sub/deep.txt").text == "deep\n"
        assert http.get(f"{base}/artifacts/notes.txt", params={"preview": 1}).json() == {
            "kind": "text",
            "text": "hello artifact\nsecond line\n",
            "truncated": False,
        }
        image = http.get(f"{base}/artifacts/plot.png", params={"preview": 1})
        assert image.headers["content-type"] == "image/png"
        assert image.content == sf.png_bytes()
        for name in ("table.csv", "table.parquet"):
            table = http.get(f"{base}/artifacts/{name}", params={"preview": 1}).json()
            assert table["kind"] == "table"
            assert table["columns"] == ["a", "b"]
            assert [r[1] for r in table["rows"]] == ["x", "y", "z"]
        assert http.get(f"{base}/artifacts/blob.bin", params={"preview": 1}).json() == {
            "kind": "binary",
            "size": 256,
        }
        tail = http.get(f"{base}/logs/stdout", params={"limit": 18}).json()
        assert tail["text"] == "line 998\nline 999\n"
        assert tail["next_offset"] == tail["size"]
        head = http.get(f"{base}/logs/stdout", params={"offset": 0, "limit": 14}).json()
        assert head == {
            "text": "line 0\nline 1\n",
            "offset": 0,
            "next_offset": 14,
            "size": tail["size"],
        }
        more = http.get(f"{base}/logs/stdout", params={"offset": 14, "limit": 7}).json()
        assert more["text"] == "line 2\n"


def test_page_openapi_and_corrupt_run(root: Path, server: UiServer) -> None:
    built = sf.corrupt_run(root)
    with httpx.Client(base_url=server.url) as http:
        schema = http.get("/openapi.json").json()
        assert "/api/series" in schema["paths"]
        assert http.get("/").headers["content-type"].startswith("text/html")
        detail = http.get(f"/api/runs/{built.run_id}").json()
        assert detail["problems"]
        assert http.get("/api/runs").json()["total"] == 1


@given(
    st.text(min_size=1).filter(lambda s: "\0" not in s),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
    st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
)
def test_range_spec_round_trip(name: str, lo: float | None, hi: float | None) -> None:
    spec = f"{name}:{'' if lo is None else repr(lo)}:{'' if hi is None else repr(hi)}"
    assert re.match(RANGE_PATTERN, spec, re.S)
    assert parse_range(spec, "param") == (name, (lo, hi))


def test_index_is_warmed_when_the_app_is_created(root: Path) -> None:
    sf.make_runs(root, 3)
    create_app(root)
    index = index_for(root)
    deadline = time.monotonic() + 60
    while len(index._entries) < 3:  # built by the app's thread, not by a request
        assert time.monotonic() < deadline, "the runs index was not built"
        time.sleep(0.01)
