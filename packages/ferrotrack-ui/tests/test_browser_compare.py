"""Compare in a real browser: runs chosen in the table are overlaid per metric, the params
that differ are listed side by side, and a parallel-coordinates view plots the
experiment's params against a metric."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import browser_fixture, chart_data, loaded, page_fixture, shot, wait_js  # noqa: F401
from playwright.sync_api import Page
from store_fixtures import make_runs
from ui_server import UiServer

pytestmark = pytest.mark.slow


def test_compare_overlays_runs_and_shows_differing_params(root: Path, page: Page) -> None:
    runs = make_runs(root, 4, points=25)
    a, b = runs[0], runs[1]  # lr 0.1 vs 0.01, adam vs sgd, 2 vs 3 layers; team differs
    with UiServer(root) as server:
        page.goto(server.url + "/")
        loaded(page)
        for run in (a, b):
            page.check(f'.row-select[data-run-id="{run.run_id}"]')
        assert page.locator("#compare-selected").inner_text() == "compare (2)"
        page.click("#compare-selected")
        loaded(page)
        traces = chart_data(page, "train/loss")
        assert {t["run_id"]: t["n"] for t in traces} == {a.run_id: 25, b.run_id: 25}
        assert {t["name"] for t in traces} == {"run-0", "run-1"}
        by_run = {t["run_id"]: t["y"] for t in traces}
        assert by_run[a.run_id][0] == pytest.approx(1.0)
        assert by_run[b.run_id][0] == pytest.approx(2.0)

        differing = page.locator("tr.param-differs").evaluate_all(
            "(rows) => rows.map((r) => [r.dataset.param,"
            " ...[...r.querySelectorAll('td')].map((c) => c.textContent)])"
        )
        assert differing == [["layers", "2", "3"], ["optim.lr", "0.1", "0.01"],
                             ["optim.name", "adam", "sgd"]]  # fmt: skip
        page.check("#diff-all")
        wait_js(page, "() => document.querySelectorAll('#params-diff tr.param-row').length === 3")

        dims = wait_js(
            page,
            "() => { const p = document.querySelector('#parallel-plot');"
            " return p.data ?"
            " p.data[0].dimensions.map((d) => [d.label, d.values.length]) : null; }",
        )
        assert dims[-1] == ["train/loss (last)", 4]
        assert ["optim.lr", 4] in dims
        shot(page, "compare", full_page=True)
