"""Playwright over Debian's chromium for the browser tests: one browser per test module, a
fresh page per test that records script errors, and waits that poll the page's state
until a deadline (no sleeps).

Screenshots for ``docs/ui.md`` are written to ``docs/ui/`` when ``FERROTRACK_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

__all__ = [
    "DOCS_SHOTS",
    "PageErrors",
    "browser_fixture",
    "chart_data",
    "loaded",
    "page_fixture",
    "shot",
    "wait_js",
]

DOCS_SHOTS = Path(__file__).resolve().parents[3] / "docs" / "ui"
DEADLINE = 20.0


class PageErrors(list[str]):
    """Uncaught script errors of a page (an injected script that ran would land here)."""


@pytest.fixture(scope="module", name="browser")
def browser_fixture() -> Iterator[Browser]:
    """Headless Debian chromium (Playwright's own download is not reachable here)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed (scripts/system/chromium.sh installs it)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(name="page")
def page_fixture(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context; fails the test if the page threw an uncaught error."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    opened = context.new_page()
    errors = PageErrors()
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.errors = errors  # type: ignore[attr-defined]
    yield opened
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def wait_js(page: Page, script: str, arg: Any = None, *, timeout: float = DEADLINE) -> Any:
    """Polls ``script`` (a JS function of ``arg``) in the page until it returns a truthy
    value, and returns that value (fails after ``timeout`` seconds)."""
    handle = page.wait_for_function(script, arg=arg, timeout=timeout * 1000)
    return handle.json_value()


def loaded(page: Page) -> None:
    """Waits until the current view has drawn its data."""
    page.wait_for_selector("#view[data-loaded=true]", timeout=DEADLINE * 1000)


def chart_data(page: Page, metric: str, *, min_points: int = 1) -> list[dict[str, Any]]:
    """The traces plotly drew for ``metric``: run id (``meta``), name, point count and
    values of each, once the chart holds ``min_points`` points or more (the chart is
    scrolled into view: charts load as they are seen)."""
    script = """([name, least]) => {
        const el = [...document.querySelectorAll('.chart-plot')]
            .find((e) => e.dataset.metric === name);
        if (!el) return null;
        if (!el.data) { el.scrollIntoView(); return null; }
        const traces = el.data.map((t) => ({ run_id: t.meta, name: t.name, n: t.x.length,
                                             x: Array.from(t.x), y: Array.from(t.y) }));
        return traces.some((t) => t.n >= least) ? traces : null;
    }"""
    result: list[dict[str, Any]] = wait_js(page, script, [metric, min_points])
    return result


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    """Saves a screenshot for the docs when FERROTRACK_SCREENSHOTS=1."""
    if os.environ.get("FERROTRACK_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(DOCS_SHOTS / f"{name}.png"), full_page=full_page)
