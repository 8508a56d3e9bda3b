"""The runs table in a real browser: its rows are the store's runs, crashed and failed
runs stand out, sort, filters, search and paging change the rows, and markup in names,
params and tags is shown as text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from browser import browser_fixture, chart_data, loaded, page_fixture, shot, wait_js  # noqa: F401
from held_build import HeldBuild
from playwright.sync_api import Page
from store_fixtures import HTML_TEXT, clone_runs, crashed_run, failed_run, html_run, make_runs
from ui_server import UiServer

import ferrotrack.core as ft
from ferrotrack.ui.data import runs as runs_mod
from ferrotrack.ui.data.runs import index_for

pytestmark = pytest.mark.slow

ROWS = """() => [...document.querySelectorAll('tr.run-row')].map((r) => ({
    id: r.dataset.runId, status: r.dataset.status, cls: r.className,
    name: r.querySelector('.run-link').textContent,
    bg: getComputedStyle(r).backgroundColor }))"""


def rows(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(ROWS)
    return result


def wait_rows(page: Page, count: int) -> list[dict[str, Any]]:
    """Waits until the table shows ``count`` rows (filters apply asynchronously)."""
    wait_js(page, f"() => document.querySelectorAll('tr.run-row').length === {count}")
    return rows(page)


def test_runs_table_matches_the_store(root: Path, page: Page) -> None:
    make_runs(root, 6)
    failed = failed_run(root)
    crashed = crashed_run(root)
    make_runs(root, 2, experiment="other")
    expected = ft.runs(root=root)
    with UiServer(root) as server:
        page.goto(server.url + "/")
        loaded(page)
        shown = rows(page)
        shot(page, "runs")
        assert {r["id"] for r in shown} == set(expected["run_id"])
        assert {(r["id"], r["name"], r["status"]) for r in shown} == set(
            expected.select("run_id", "name", "status").iter_rows()
        )
        assert (
            page.locator("#runs-count").inner_text() == f"1–{len(expected)} of {len(expected)} runs"
        )
        by_id = {r["id"]: r for r in shown}
        normal = next(r for r in shown if r["status"] == "finished")
        for bad in (failed.run_id, crashed.run_id):
            assert f"row-{by_id[bad]['status']}" in by_id[bad]["cls"]
            assert by_id[bad]["bg"] != normal["bg"]  # it stands out
        assert by_id[crashed.run_id]["status"] == "crashed"
        # plotly.js (seconds to run) waits for a chart: the table is drawn without it
        assert page.evaluate("() => window.Plotly === undefined")

        # sort by name, ascending then descending
        page.click('th[data-sort="name"]')
        wait_js(
            page,
            "() => document.querySelector('th[data-sort=name]').className.includes('sort-')",
        )
        names = sorted(expected["name"].to_list())
        wait_js(
            page,
            "(n) => document.querySelector('tr.run-row .run-link').textContent === n",
            names[0],
        )
        assert [r["name"] for r in rows(page)] == names
        page.click('th[data-sort="name"]')
        wait_js(
            page,
            "(n) => document.querySelector('tr.run-row .run-link').textContent === n",
            names[-1],
        )
        assert [r["name"] for r in rows(page)] == names[::-1]

        # filters: experiment, status, search, tag, a param range
        page.select_option("#filter-experiment", "other")
        assert {r["name"] for r in wait_rows(page, 2)} == {"run-0", "run-1"}
        page.select_option("#filter-experiment", "")
        page.select_option("#filter-status", "crashed")
        assert [r["id"] for r in wait_rows(page, 1)] == [crashed.run_id]
        page.select_option("#filter-status", "")
        page.fill("#filter-search", "fail")
        assert [r["id"] for r in wait_rows(page, 1)] == [failed.run_id]
        page.fill("#filter-search", "")
        wait_rows(page, len(expected))
        page.fill("#filter-tag", "team:red")
        page.press("#filter-tag", "Enter")
        red = expected.filter(expected["tags"].struct.field("team") == "red")
        assert {r["id"] for r in wait_rows(page, len(red))} == set(red["run_id"])
        page.click(".chip-remove")
        wait_rows(page, len(expected))
        page.select_option("#range-column", "param:optim.lr")
        page.fill("#range-lo", "0.005")
        page.click("#range-add")
        big = expected.filter(expected["params.optim.lr"] >= 0.005)
        assert {r["id"] for r in wait_rows(page, len(big))} == set(big["run_id"])


def test_many_runs_are_paged(root: Path, page: Page) -> None:
    template = make_runs(root, 1)[0]
    clone_runs(template, 249)
    with UiServer(root) as server:
        page.goto(server.url + "/")
        loaded(page)
        assert len(rows(page)) == 100  # only one page of rows is in the DOM
        assert page.locator("#runs-count").inner_text() == "1–100 of 250 runs"
        first = {r["id"] for r in rows(page)}
        page.click("#page-next")
        wait_js(
            page, "() => document.querySelector('#runs-count').textContent.startsWith('101–200')"
        )
        second = {r["id"] for r in rows(page)}
        assert len(second) == 100
        assert not first & second
        page.select_option("#page-size", "500")
        assert len(wait_rows(page, 250)) == 250


def test_markup_in_names_params_and_tags_is_text(root: Path, page: Page) -> None:
    run = html_run(root)
    other = make_runs(root, 1)[0]
    with UiServer(root) as server:
        page.add_init_script("window.__pwned = 0; window.alert = () => { window.__pwned += 1; };")
        page.goto(server.url + "/")
        loaded(page)
        page.click("#columns-chooser summary")
        page.check('input[data-kind="params"][data-name="note"]')
        page.check('input[data-kind="tags"][data-name="html"]')
        wait_js(page, "() => document.querySelectorAll('td.col-tag').length > 0")
        row = page.locator(f'tr.run-row[data-run-id="{run.run_id}"]')
        assert row.locator(".run-link").inner_text() == HTML_TEXT
        assert HTML_TEXT in row.locator("td.col-param").all_inner_texts()
        assert HTML_TEXT in row.locator("td.col-tag").all_inner_texts()
        assert page.locator("#view img, #view script").count() == 0

        row.locator(".run-link").click()
        loaded(page)
        assert page.locator("#run-name").inner_text() == HTML_TEXT
        assert HTML_TEXT in page.locator("#run-params").inner_text()
        assert HTML_TEXT in page.locator("#run-tags").inner_text()
        traces = chart_data(page, f"m{HTML_TEXT}")
        assert traces[0]["n"] == 1
        legend_or_title = page.locator(".chart-title").all_inner_texts()
        assert f"m{HTML_TEXT}" in legend_or_title
        assert page.locator("#view img").count() == 0
        assert page.evaluate("() => window.__pwned") == 0

        # plotly's legend and parallel coordinates draw the markup as text too
        page.goto(f"{server.url}/#/compare?run={run.run_id}&run={other.run_id}")
        loaded(page)
        chart_data(page, f"m{HTML_TEXT}")
        legend = page.locator(".chart-plot .legendtext").all_text_contents()
        assert HTML_TEXT in legend
        texts = wait_js(
            page,
            "() => { const p = document.querySelector('#parallel-plot');"
            " return p.data ? [...p.querySelectorAll('text')].map((t) => t.textContent) : null; }",
        )
        assert HTML_TEXT in texts  # the param 'note' as a category
        assert page.locator("img, image").count() == 0
        assert page.evaluate("() => window.__pwned") == 0


def test_page_works_behind_a_token(root: Path, page: Page) -> None:
    runs = make_runs(root, 2)
    with UiServer(root, token="s3cret") as server:
        page.goto(server.url + "/?token=s3cret")
        loaded(page)
        assert {r["id"] for r in rows(page)} == {r.run_id for r in runs}
        page.locator(".run-link").first.click()
        assert chart_data(page, "train/loss")[0]["n"] == 20


def test_newest_runs_show_while_the_store_is_read(
    root: Path, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store still being read shows its newest runs and says so, then every run without
    a reload."""
    monkeypatch.setattr(runs_mod, "FIRST_CHUNK", 4)
    built = make_runs(root, 9)
    build = HeldBuild(index_for(root))  # the server's warm-up thread builds it, held here
    with UiServer(root) as server:
        page.goto(server.url + "/")
        loaded(page)
        assert [r["name"] for r in rows(page)] == [b.name for b in reversed(built)][:4]
        assert page.locator("#view").get_attribute("data-partial") == "true"
        assert "reading the store: 4 of 9 runs" in page.locator("#runs-count").inner_text()
        build.release()
        wait_js(page, "() => document.querySelector('#view').dataset.partial === 'false'")
        assert [r["name"] for r in wait_rows(page, 9)] == [b.name for b in reversed(built)]
        assert page.locator("#runs-count").inner_text() == "1–9 of 9 runs"


def open_columns(page: Page, url: str) -> None:
    """The runs page, drawn, with its columns chooser open."""
    page.goto(url + "/")
    loaded(page)
    page.click("#columns-chooser summary")


def test_sort_by_a_tag_column(root: Path, page: Page) -> None:
    make_runs(root, 4)  # tag seed "0".."3"
    with UiServer(root) as server:
        open_columns(page, server.url)
        page.check('input[data-kind="tags"][data-name="seed"]')
        page.click('th[data-sort="tags.seed"]')
        wait_js(
            page, "() => document.querySelector('tr.run-row .run-link').textContent === 'run-0'"
        )
        assert [r["name"] for r in rows(page)] == ["run-0", "run-1", "run-2", "run-3"]
        page.click('th[data-sort="tags.seed"]')
        wait_js(
            page, "() => document.querySelector('tr.run-row .run-link').textContent === 'run-3'"
        )
        assert [r["name"] for r in rows(page)] == ["run-3", "run-2", "run-1", "run-0"]


def test_metric_min_and_max_columns(root: Path, page: Page) -> None:
    make_runs(root, 4)  # train/loss of run i: max i + 1 (step 0), min and last (i + 1) / 20
    with UiServer(root) as server:
        open_columns(page, server.url)
        page.uncheck('input[data-kind="metrics"][data-name="train/loss"][data-stat="last"]')
        page.check('input[data-kind="metrics"][data-name="train/loss"][data-stat="max"]')
        page.check('input[data-kind="metrics"][data-name="train/loss"][data-stat="min"]')
        header = 'th[data-sort="metrics.train/loss.max"]'
        page.wait_for_selector(header)
        page.click("#columns-chooser summary")  # closed: it lies over the table's head
        assert page.locator(header).inner_text() == "train/loss (max)"
        assert page.locator('th[data-sort="metrics.train/loss.last"]').count() == 0
        page.click(header)  # ascending
        wait_js(
            page, "() => document.querySelector('tr.run-row .run-link').textContent === 'run-0'"
        )
        cells = page.evaluate(
            """() => [...document.querySelectorAll('tr.run-row')].map((r) =>
                [...r.querySelectorAll('td.col-metric')].map((c) => c.textContent))"""
        )
        heads = page.evaluate(
            "() => [...document.querySelectorAll('th.col-metric')].map((t) => t.dataset.sort)"
        )
        at_max = heads.index("metrics.train/loss.max")
        at_min = heads.index("metrics.train/loss.min")
        assert [float(c[at_max]) for c in cells] == [1.0, 2.0, 3.0, 4.0]
        assert [float(c[at_min]) for c in cells] == [0.05, 0.1, 0.15, 0.2]
