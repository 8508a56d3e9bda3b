"""Live views in a real browser: a compare view of two runs still logging asks for each run's
new points with that run's own cursor, keeps a bounded number of points per series however
long the runs log, and the runs table follows status changes with ``since=`` polls; a run's
page shows the events and artifacts a live run adds and its end; all without a reload."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import browser_fixture, chart_data, loaded, page_fixture, wait_js  # noqa: F401
from playwright.sync_api import Page, Request
from ui_server import UiServer

pytestmark = pytest.mark.slow

BATCH = 2500  # more than a chart's 2,000 points: the server downsamples each poll's answer
WRITER = """
import os, sys, time
import numpy as np
import ferrotrack.core as ft

root, folder, name = sys.argv[1], sys.argv[2], sys.argv[3]
batch_size = int(sys.argv[4])
run = ft.start_run(name, experiment="live", root=root)
print(run.run_id, flush=True)
batch = extra = 0
while not os.path.exists(os.path.join(folder, "stop")):
    if os.path.exists(os.path.join(folder, f"extra-{extra}")):
        note = os.path.join(folder, f"notes-{extra}.txt")
        with open(note, "w") as f:
            f.write(f"note {extra}")
        run.log_artifact(note)
        run.log_event("checkpoint", f"saved {extra}", step=extra, data={"file": f"m{extra}.pt"})
        open(os.path.join(folder, f"extra-done-{extra}"), "w").close()
        extra += 1
    if os.path.exists(os.path.join(folder, f"more-{batch}")):
        steps = np.arange(batch * batch_size, (batch + 1) * batch_size, dtype=np.int64)
        run.log_array("loss", np.sin(steps / 100.0), steps=steps)
        run.flush()
        open(os.path.join(folder, f"done-{batch}"), "w").close()
        batch += 1
    time.sleep(0.01)
run.finish()
"""


class Writer:
    """A subprocess that logs batch ``k`` of ``loss`` when file ``more-k`` appears."""

    def __init__(self, root: Path, folder: Path, name: str) -> None:
        folder.mkdir()
        self.folder = folder
        (folder / "more-0").touch()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(root), str(folder), name,
             str(BATCH)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.run_id = self.proc.stdout.readline().strip()
        self.wait_done(0)

    def wait_done(self, batch: int, what: str = "done") -> None:
        path = self.folder / f"{what}-{batch}"
        deadline = time.monotonic() + 60
        while not path.exists():
            assert self.proc.poll() is None, "the writer exited"
            assert time.monotonic() < deadline, f"{path} did not appear"
            time.sleep(0.01)

    def log_batch(self, batch: int) -> None:
        (self.folder / f"more-{batch}").touch()
        self.wait_done(batch)

    def log_extra(self, k: int) -> None:
        """An artifact ``notes-k.txt`` and a checkpoint event ``saved k``."""
        (self.folder / f"extra-{k}").touch()
        self.wait_done(k, "extra-done")

    def stop(self) -> None:
        (self.folder / "stop").touch()
        assert self.proc.wait(timeout=60) == 0


def series_traces(page: Page) -> dict[str, dict[str, object]]:
    """The loss chart's traces by run id: point count, first and last x."""
    result: dict[str, dict[str, object]] = page.evaluate(
        """() => Object.fromEntries(document.querySelector('.chart-plot[data-metric=loss]')
            .data.map((t) => [t.meta, { n: t.x.length, first: t.x[0], last: t.x.at(-1) }]))"""
    )
    return result


def wait_last(page: Page, run_id: str, last: int, *, seconds: float = 2.0) -> None:
    """Waits until the loss trace of ``run_id`` ends at step ``last`` (new points on screen
    within ``seconds`` of their write)."""
    wait_js(
        page,
        """([id, last]) => { const el = document.querySelector('.chart-plot[data-metric=loss]');
            const t = el && el.data && el.data.find((d) => d.meta === id);
            return t && t.x.at(-1) === last; }""",
        [run_id, last],
        timeout=seconds,
    )


def test_compare_of_live_runs_gets_each_runs_new_points(
    root: Path, tmp_path: Path, page: Page
) -> None:
    a = Writer(root, tmp_path / "a", "live-a")
    b = Writer(root, tmp_path / "b", "live-b")
    series_requests: list[dict[str, list[str]]] = []

    def record(request: Request) -> None:
        if "/api/series" in request.url:
            series_requests.append(parse_qs(urlsplit(request.url).query))

    page.on("request", record)
    try:
        with UiServer(root) as server:
            page.goto(f"{server.url}/#/compare?run={a.run_id}&run={b.run_id}")
            loaded(page)
            traces = {t["run_id"]: t for t in chart_data(page, "loss", min_points=1)}
            assert traces.keys() == {a.run_id, b.run_id}
            assert all(t["x"][0] == 0 and t["x"][-1] == BATCH - 1 for t in traces.values())

            a.log_batch(1)  # only a logs: a's trace grows, b's keeps its points
            wait_last(page, a.run_id, 2 * BATCH - 1)
            assert series_traces(page)[b.run_id]["last"] == BATCH - 1
            b.log_batch(1)
            wait_last(page, b.run_id, 2 * BATCH - 1)
            for batch in (2, 3, 4):  # past twice the chart's points: reduced in the page
                a.log_batch(batch)
                wait_last(page, a.run_id, (batch + 1) * BATCH - 1)
            shown = series_traces(page)
            assert shown[a.run_id]["first"] == 0
            assert 0 < int(shown[a.run_id]["n"]) <= 4000  # type: ignore[call-overload]
            assert 0 < int(shown[b.run_id]["n"]) <= 4000  # type: ignore[call-overload]

            polls = [q for q in series_requests if "after" in q]
            assert polls, "no live poll asked for new points only"
            for q in polls:  # one cursor per run, in the runs' order
                assert q["run"] == [a.run_id, b.run_id]
                assert len(q["after"]) == 2
            assert len({tuple(q["after"]) for q in polls}) > 2  # the cursors moved on

            # the runs table follows a run that finishes, with since= polls and no reload
            page.goto(f"{server.url}/#/")
            loaded(page)
            page.evaluate("() => { window.__still_here = true; }")
            wait_js(
                page,
                """(id) => [...document.querySelectorAll('tr.run-row')]
                    .some((r) => r.dataset.runId === id && r.dataset.status === 'running')""",
                a.run_id,
            )
            runs_polls: list[str] = []
            page.on(
                "request", lambda r: runs_polls.append(r.url) if "/api/runs?" in r.url else None
            )
            a.stop()
            wait_js(
                page,
                """(id) => [...document.querySelectorAll('tr.run-row')]
                    .some((r) => r.dataset.runId === id && r.dataset.status === 'finished')""",
                a.run_id,
                timeout=10.0,
            )
            assert page.evaluate("() => window.__still_here") is True  # no reload
            assert any("since=" in u for u in runs_polls)
    finally:
        for w in (a, b):
            (w.folder / "stop").touch()
            w.proc.wait(timeout=60)


ARTIFACTS = "() => [...document.querySelectorAll('tr.artifact-row')].map((r) => r.dataset.path)"
EVENTS = "() => [...document.querySelectorAll('#run-events tr.event-row')].length"


def test_run_page_follows_new_events_artifacts_and_the_end(
    root: Path, tmp_path: Path, page: Page
) -> None:
    w = Writer(root, tmp_path / "w", "live-extras")
    try:
        with UiServer(root) as server:
            page.goto(f"{server.url}/#/run/{w.run_id}")
            loaded(page)
            page.evaluate("() => { window.__still_here = true; }")
            assert page.evaluate(ARTIFACTS) == []
            assert page.locator("#run-events").is_hidden()
            w.log_extra(0)
            wait_js(page, f"() => ({ARTIFACTS})().includes('notes-0.txt')", timeout=5.0)
            wait_js(page, f"() => ({EVENTS})() === 1", timeout=5.0)
            assert page.locator("#run-events").is_visible()
            w.log_extra(1)
            wait_js(page, f"() => ({EVENTS})() === 2", timeout=5.0)
            assert sorted(page.evaluate(ARTIFACTS)) == ["notes-0.txt", "notes-1.txt"]
            page.click('tr.artifact-row[data-path="notes-1.txt"] .artifact-show')
            wait_js(page, "() => document.querySelector('#artifact-preview pre')")
            assert page.locator("#artifact-preview pre").inner_text() == "note 1"
            w.stop()
            wait_js(
                page,
                "() => document.querySelector('.run-status .status').dataset.status === 'finished'",
                timeout=10.0,
            )
            assert "·" in page.locator(".run-status").inner_text()  # its duration now
            assert page.evaluate("() => window.__still_here") is True  # no reload
    finally:
        (w.folder / "stop").touch()
        w.proc.wait(timeout=60)
