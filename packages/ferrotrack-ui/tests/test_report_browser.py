"""A report file opened from disk with the network cut shows the store's runs and charts,
drawn against step, wall time or seconds since the start as the dashboard draws them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from browser import browser_fixture, chart_data, loaded, page_fixture, shot, wait_js  # noqa: F401
from playwright.sync_api import Page, Route
from store_fixtures import HTML_TEXT, crashed_run, html_run, make_runs
from ui_server import UiServer

import ferrotrack.core as ft
from ferrotrack.ui.report.build import collect_report, write_report

pytestmark = pytest.mark.slow


def test_report_opens_from_disk_offline(root: Path, tmp_path: Path, page: Page) -> None:
    runs = make_runs(root, 4, points=40)
    crashed = crashed_run(root)
    marked = html_run(root)
    path = write_report(collect_report(root, points=100), tmp_path / "report.html")
    expected = ft.runs(root=root)

    blocked: list[str] = []

    def only_files(route: Route) -> None:
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    page.context.route("**/*", only_files)
    page.context.set_offline(True)
    page.add_init_script("window.__pwned = 0; window.alert = () => { window.__pwned += 1; };")
    page.goto(path.as_uri())
    loaded(page)
    shown = page.locator("tr.run-row").evaluate_all(
        "(rows) => rows.map((r) => [r.dataset.runId, r.querySelector('.run-link').textContent,"
        " r.dataset.status])"
    )
    assert sorted(map(tuple, shown)) == sorted(
        expected.select("run_id", "name", "status").iter_rows()
    )
    assert page.locator(f'tr.row-crashed[data-run-id="{crashed.run_id}"]').count() == 1
    assert "report" in page.locator("#mode").inner_text()
    shot(page, "report")

    page.fill("#filter-search", "run-2")
    wait_js(page, "() => document.querySelectorAll('tr.run-row').length === 1")
    page.locator(".run-link").click()
    loaded(page)
    traces = chart_data(page, "train/loss")
    assert [(t["run_id"], t["n"]) for t in traces] == [(runs[2].run_id, 40)]
    assert traces[0]["y"][0] == pytest.approx(3.0)

    page.goto(f"{path.as_uri()}#/compare?run={runs[0].run_id}&run={runs[3].run_id}")
    loaded(page)
    assert {t["run_id"] for t in chart_data(page, "val/acc")} == {runs[0].run_id, runs[3].run_id}
    assert page.locator("tr.param-differs").count() >= 1

    page.goto(f"{path.as_uri()}#/run/{marked.run_id}")
    loaded(page)
    assert page.locator("#run-name").inner_text() == HTML_TEXT
    assert page.evaluate("() => window.__pwned") == 0
    assert blocked == []  # the page asked for nothing beyond its own file


def local_dates(ms: list[float]) -> list[str]:
    """Milliseconds since the epoch as the page draws them: local time, to the ms."""
    return [
        (datetime.fromtimestamp(int(v) // 1000) + timedelta(milliseconds=int(v) % 1000)).isoformat(
            timespec="milliseconds"
        )
        for v in ms
    ]


def test_report_charts_by_time_match_the_server(root: Path, tmp_path: Path, page: Page) -> None:
    with ft.start_run("timed", root=root) as run:
        for step in range(40):
            run.log("loss", 1.0 / (step + 1), step=step)
    path = write_report(collect_report(root), tmp_path / "report.html")
    with UiServer(root) as server:
        answers = {
            kind: httpx.get(
                f"{server.url}/api/series",
                params={"run": run.run_id, "name": "loss", "x": kind},
            ).json()["series"][0]
            for kind in ("wall", "relative")
        }
    page.context.set_offline(True)
    page.goto(f"{path.as_uri()}#/run/{run.run_id}")
    loaded(page)
    assert chart_data(page, "loss")[0]["x"] == list(range(40))
    assert not page.locator(".ctl-x").is_disabled()
    plot = "document.querySelector('.chart-plot[data-metric=loss]')"
    page.select_option(".ctl-x", "wall")
    wall = wait_js(
        page,
        f"() => {{ const el = {plot};"
        " return el.layout.xaxis.type === 'date' ? Array.from(el.data[0].x) : null; }",
    )
    assert wall == local_dates(answers["wall"]["x"])
    page.select_option(".ctl-x", "relative")
    rel = wait_js(
        page,
        f"() => {{ const el = {plot}; return el.layout.xaxis.type === 'linear'"
        " && el.layout.xaxis.title.text === 'seconds since start'"
        " ? Array.from(el.data[0].x) : null; }",
    )
    assert rel == answers["relative"]["x"]
    assert page.evaluate(f"() => Array.from({plot}.data[0].y)") == answers["relative"]["y"]
    assert len(set(rel)) > 1  # the points' own times, not one time for all
