"""A run's page in a real browser: its charts hold the run's points (downsampled past
2,000, finer when zoomed), a failed run shows its error and traceback, a corrupt segment
an error banner, artifacts preview, logs, and a live run's new points appear within 2 s."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from browser import browser_fixture, chart_data, loaded, page_fixture, shot, wait_js  # noqa: F401
from playwright.sync_api import Page
from store_fixtures import corrupt_run, failed_run, long_series_run, make_runs, run_with_artifacts
from ui_server import UiServer

pytestmark = pytest.mark.slow


def open_run(page: Page, server: UiServer, run_id: str) -> None:
    page.goto(f"{server.url}/#/run/{run_id}")
    loaded(page)


def test_charts_hold_the_runs_points(root: Path, page: Page) -> None:
    runs = make_runs(root, 3, points=30)
    long = long_series_run(root, 20_000)
    with UiServer(root) as server:
        open_run(page, server, runs[2].run_id)
        loss = chart_data(page, "train/loss")
        assert [(t["run_id"], t["n"]) for t in loss] == [(runs[2].run_id, 30)]
        assert loss[0]["x"] == list(range(30))
        assert loss[0]["y"] == pytest.approx([3 / (s + 1) for s in range(30)])
        assert [t["n"] for t in chart_data(page, "val/acc")] == [30]
        assert "epoch" in str(page.locator(".events-table").text_content())
        kinds = page.evaluate(
            "() => document.querySelector('.events-plot').data.map((t) => t.x.length)"
        )
        assert sum(kinds) == 2  # the level start and the checkpoint, on the timeline
        shot(page, "run")

        # log scale and smoothing change what is drawn, not the points
        page.check(".ctl-log")
        wait_js(page, "() => document.querySelector('.chart-plot').layout.yaxis.type === 'log'")
        page.fill(".ctl-smoothing", "0.9")
        smoothed = wait_js(
            page,
            "() => { const d = document.querySelector('.chart-plot').data;"
            " return d.length === 2 ? d.map((t) => Array.from(t.y)) : null; }",
        )
        assert smoothed[0] == pytest.approx(loss[0]["y"])
        assert smoothed[1] != pytest.approx(loss[0]["y"])
        assert smoothed[1][0] == pytest.approx(loss[0]["y"][0])  # debiased: starts at the value

        # x by wall-clock time (a date axis) and by seconds since the start
        page.fill(".ctl-smoothing", "0")
        page.select_option(".ctl-x", "wall")
        wall = wait_js(
            page,
            "() => { const el = document.querySelector('.chart-plot');"
            " return el.layout.xaxis.type === 'date' ? Array.from(el.data[0].x) : null; }",
        )
        assert len(wall) == 30
        # the server's milliseconds since the epoch, drawn as local dates (the runs table's)
        answer = page.request.get(
            f"{server.url}/api/series?run={runs[2].run_id}&name=train/loss&x=wall"
        ).json()
        local = [
            (
                datetime.fromtimestamp(int(ms) // 1000) + timedelta(milliseconds=int(ms) % 1000)
            ).isoformat(timespec="milliseconds")
            for ms in answer["series"][0]["x"]
        ]
        assert wall == local
        title = "() => document.querySelector('.chart-plot').layout.xaxis.title.text"
        assert page.evaluate(title) == "wall time (local)"
        page.select_option(".ctl-x", "relative")
        rel = wait_js(
            page,
            "() => { const el = document.querySelector('.chart-plot');"
            " return el.layout.xaxis.type === 'linear' ? Array.from(el.data[0].x) : null; }",
        )
        assert len(rel) == 30
        assert 0 <= rel[0] <= rel[-1] < 60
        assert rel == sorted(rel)
        assert page.evaluate(title) == "seconds since start"
        page.select_option(".ctl-x", "step")

        open_run(page, server, long.run_id)
        whole = chart_data(page, "loss")
        assert 0 < whole[0]["n"] <= 2000
        assert whole[0]["x"][0] == 0
        assert whole[0]["x"][-1] == 19_999
        assert (
            "downsampled"
            in page.locator('.chart-card[data-metric="loss"] .chart-note').inner_text()
        )
        # zooming asks the server for the range's own points: all 201 of them
        page.evaluate(
            "() => Plotly.relayout(document.querySelector('.chart-plot[data-metric=loss]'),"
            " {'xaxis.range[0]': 5000, 'xaxis.range[1]': 5200})"
        )
        zoomed = wait_js(
            page,
            "() => { const t = document.querySelector("
            "'.chart-plot[data-metric=loss]').data[0];"
            " return t.x[0] === 5000 ? Array.from(t.x) : null; }",
        )
        assert zoomed == list(range(5000, 5201))
        page.evaluate(
            "() => Plotly.relayout(document.querySelector('.chart-plot[data-metric=loss]'),"
            " {'xaxis.autorange': true})"
        )
        wait_js(
            page,
            "() => document.querySelector('.chart-plot[data-metric=loss]')"
            ".data[0].x.at(-1) === 19999",
        )


def test_failed_run_and_corrupt_segment(root: Path, page: Page) -> None:
    failed = failed_run(root)
    corrupt = corrupt_run(root)
    with UiServer(root) as server:
        open_run(page, server, failed.run_id)
        assert "boom" in page.locator("#run-error").inner_text()
        assert "ValueError" in page.locator("#run-traceback").inner_text()
        assert page.locator(".run-status .status").get_attribute("data-status") == "failed"
        shot(page, "failed-run")

        open_run(page, server, corrupt.run_id)
        banner = page.locator("#banner")
        banner.wait_for(state="visible")
        assert "part-" in banner.inner_text()
        assert page.locator("#run-name").inner_text() == "corrupt"  # the run is still shown
        shot(page, "corrupt-run")

        page.goto(f"{server.url}/#/run/no-such-run")
        page.locator("#run-missing").wait_for()
        assert "no-such-run" in page.locator("#run-missing").inner_text()


def test_artifacts_and_logs(root: Path, tmp_path: Path, page: Page) -> None:
    run = run_with_artifacts(root, tmp_path / "files")
    with UiServer(root) as server:
        open_run(page, server, run.run_id)
        paths = page.locator(".artifact-row").evaluate_all(
            "(rows) => rows.map((r) => r.dataset.path)"
        )
        assert paths == ["blob.bin", "notes.txt", "plot.png", "sub/deep.txt", "table.csv",
                         "table.parquet"]  # fmt: skip
        page.locator('.artifact-row[data-path="notes.txt"] .artifact-show').click()
        page.locator(".artifact-text").wait_for()
        assert page.locator(".artifact-text").inner_text() == "hello artifact\nsecond line\n"
        page.locator('.artifact-row[data-path="table.parquet"] .artifact-show').click()
        page.locator(".preview-table").wait_for()
        assert page.locator(".preview-table tbody tr").count() == 3
        assert page.locator(".preview-table th").all_inner_texts() == ["a", "b"]
        page.locator('.artifact-row[data-path="plot.png"] .artifact-show').click()
        wait_js(
            page,
            "() => { const i = document.querySelector('.artifact-image');"
            " return i && i.complete && i.naturalWidth === 4; }",
        )
        href = page.locator(
            '.artifact-row[data-path="sub/deep.txt"] .artifact-download'
        ).get_attribute("href")
        assert page.request.get(server.url + str(href)).text() == "deep\n"
        log = page.locator("#log-text")
        wait_js(
            page, "() => document.querySelector('#log-text').textContent.endsWith('line 999\\n')"
        )
        assert log.inner_text().count("\n") >= 999
        page.locator('.tab[data-stream="stderr"]').click()
        wait_js(
            page,
            "() => document.querySelector('#log-text').textContent === 'warning: something\\n'",
        )
        shot(page, "artifacts", full_page=True)


LIVE_WRITER = """
import os, sys, time
import numpy as np
import ferrotrack.core as ft

root, folder = sys.argv[1], sys.argv[2]
run = ft.start_run("live", experiment="live", root=root)
print(run.run_id, flush=True)
batch = 0
while not os.path.exists(os.path.join(folder, "stop")):
    if os.path.exists(os.path.join(folder, f"more-{batch}")):
        steps = np.arange(batch * 10, batch * 10 + 10, dtype=np.int64)
        run.log_array("live/loss", 1.0 / (steps + 1.0), steps=steps)
        run.flush()
        open(os.path.join(folder, f"done-{batch}"), "w").close()
        batch += 1
    time.sleep(0.01)
run.finish()
"""


def wait_file(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.01)


def test_live_run_new_points_appear_within_two_seconds(
    root: Path, tmp_path: Path, page: Page
) -> None:
    (tmp_path / "more-0").touch()
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LIVE_WRITER), str(root),
                               str(tmp_path)], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert writer.stdout is not None
        run_id = writer.stdout.readline().strip()
        wait_file(tmp_path / "done-0")
        with UiServer(root) as server:
            open_run(page, server, run_id)
            assert page.locator(".run-status .status").get_attribute("data-status") == "running"
            assert [t["n"] for t in chart_data(page, "live/loss", min_points=10)] == [10]
            for batch in (1, 2):
                (tmp_path / f"more-{batch}").touch()
                wait_file(tmp_path / f"done-{batch}")
                traces = chart_data_within(page, "live/loss", 10 * (batch + 1), seconds=2.0)
                assert traces[0]["x"] == list(range(10 * (batch + 1)))
            assert page.locator("#live").is_visible()
            (tmp_path / "stop").touch()
            assert writer.wait(timeout=60) == 0
            page.locator('.run-status .status[data-status="finished"]').wait_for(timeout=10_000)
    finally:
        (tmp_path / "stop").touch()
        writer.wait(timeout=60)


def chart_data_within(page: Page, metric: str, points: int, *, seconds: float) -> list[dict]:  # type: ignore[type-arg]
    """The chart's traces once they hold ``points`` points, which must happen within
    ``seconds`` (the live requirement: new points on screen within 2 s of their write)."""
    script = """([name, n]) => {
        const el = [...document.querySelectorAll('.chart-plot')]
            .find((e) => e.dataset.metric === name);
        return el && el.data && el.data[0].x.length === n
            ? el.data.map((t) => ({ n: t.x.length, x: Array.from(t.x) })) : null;
    }"""
    result: list[dict] = wait_js(page, script, [metric, points], timeout=seconds)  # type: ignore[type-arg]
    return result


def test_a_long_log_shows_its_tail(root: Path, page: Page) -> None:
    run = make_runs(root, 1)[0]
    (run.folder / "logs").mkdir(exist_ok=True)
    lines = [f"line {i:07d} {'x' * 40}\n" for i in range(60_000)]  # 3 MiB
    (run.folder / "logs" / "stdout.txt").write_text("".join(lines))
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/logs/" in r.url else None)
    with UiServer(root) as server:
        open_run(page, server, run.run_id)
        wait_js(page, "(last) => document.querySelector('#log-text')?.textContent.endsWith(last)",
                lines[-1])  # fmt: skip
        text = page.locator("#log-text").text_content() or ""
        assert text.startswith("… (")  # what came before the tail is said, not read
        assert lines[0] not in text
        assert len(text) < 300 * 1024
        assert "offset=" not in asked[0]  # the tail, asked as the server reads it
