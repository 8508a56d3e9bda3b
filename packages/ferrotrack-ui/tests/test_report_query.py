"""A report filters, sorts and pages its embedded rows in the browser; for any query the
rows it shows are those the server's ``runs_page`` answers for the same store. Its charts'
x by wall time or seconds since the start are the server's ``series`` x, to the bit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import browser_fixture, page_fixture  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Page
from store_fixtures import failed_run, make_runs

import ferrotrack.core as ft
from ferrotrack.ui.data import RunsQuery, runs_page, series
from ferrotrack.ui.data.series import _x_out
from ferrotrack.ui.report.build import collect_report, encode_times
from ferrotrack.ui.report.bundle import json_ready, static_folder

pytestmark = pytest.mark.slow

SORTS = ["start", "end", "duration", "name", "status", "experiment", "run_id", "params.lr",
         "params.optim.lr", "params.optim.name", "params.layers", "metrics.train/loss",
         "metrics.train/loss.min", "metrics.val/acc.max", "metrics.val/acc.count"]  # fmt: skip
RANGE = st.tuples(
    st.one_of(st.none(), st.floats(0, 4)), st.one_of(st.none(), st.floats(0, 4))
).filter(lambda r: r != (None, None))
QUERIES = st.builds(
    RunsQuery,
    experiment=st.sampled_from([None, "exp", "other"]),
    status=st.sampled_from([None, "finished", "failed"]),
    tags=st.dictionaries(
        st.sampled_from(["team", "seed"]), st.sampled_from(["red", "blue", "1"]), max_size=1
    ),
    q=st.sampled_from([None, "run-1", "RED", "team:b", "1", "fail", "zzz"]),
    params=st.dictionaries(st.sampled_from(["optim.lr", "layers", "lr"]), RANGE, max_size=1),
    metrics=st.dictionaries(st.sampled_from(["train/loss", "val/acc"]), RANGE, max_size=1),
    sort=st.sampled_from(SORTS),
    desc=st.booleans(),
    offset=st.integers(0, 12),
    limit=st.integers(1, 12),
)


def sort_value(row: dict[str, Any], sort: str) -> Any:
    if sort == "duration":
        return row["duration_s"]
    if sort.startswith("params."):
        return row["params"].get(sort[7:])
    if sort.startswith("metrics."):
        name, stat = sort[8:], "last"
        head, _, tail = name.rpartition(".")
        if head and tail in ("last", "min", "max", "count", "last_step"):
            name, stat = head, tail
        return row["metrics"].get(name, {}).get(stat)
    return row[sort]


def load_report_source(page: Page) -> None:
    """report_source.js as a plain script in an empty page (its exports made globals)."""
    code = (static_folder() / "report_source.js").read_text()
    code = re.sub(r"^export ", "", code, flags=re.M)
    page.add_script_tag(content=code + "\nwindow.reportSource = reportSource;\n")


def test_report_queries_agree_with_runs_page(root: Path, page: Page) -> None:
    make_runs(root, 8, points=10)
    make_runs(root, 3, experiment="other", points=5)
    failed_run(root)
    every = runs_page(root, RunsQuery(limit=1000))
    data = {"runs": every["runs"], "columns": every["columns"]}
    page.goto("about:blank")
    load_report_source(page)

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(QUERIES)
    def agree(query: RunsQuery) -> None:
        server = runs_page(root, query)
        js_query = {**query.__dict__, "tags": dict(query.tags), "params": dict(query.params),
                    "metrics": dict(query.metrics)}  # fmt: skip
        shown = page.evaluate("([data, q]) => window.reportSource(data).runs(q)", [data, js_query])
        assert shown["total"] == server["total"]
        assert [sort_value(r, query.sort) for r in shown["runs"]] == [
            sort_value(r, query.sort) for r in server["runs"]
        ]
        if query.offset == 0 and query.limit >= server["total"]:
            assert {r["run_id"] for r in shown["runs"]} == {r["run_id"] for r in server["runs"]}

    agree()


NS = st.integers(-(2**62), 2**62)


def test_report_times_are_the_servers_x(page: Page) -> None:
    """Any times (ns) and start: the page's wall and relative x equal the server's numpy
    arithmetic on int64 (Number(BigInt) and int64 -> float64 both round to nearest)."""
    page.goto("about:blank")
    load_report_source(page)

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(st.lists(NS, min_size=1, max_size=20), NS)
    def agree(times: list[int], origin: int) -> None:
        encoded = encode_times(times, origin)
        ts = np.array(times, dtype=np.int64)
        for kind in ("wall", "relative"):
            shown = page.evaluate(
                "([enc, kind]) => { const o = BigInt(enc.origin);"
                " return pointTimes(enc).map((t) => timeAsX(t, o, kind)); }",
                [encoded, kind],
            )
            assert shown == _x_out(ts, kind, origin)

    agree()


def test_report_series_by_time_agree_with_series(root: Path, page: Page) -> None:
    """A report's answer for x=wall and x=relative is the server's: same x, same y, in the
    same (time) order, also for points logged out of step order."""
    with ft.start_run("timed", root=root) as run:
        for step in (*range(50, 100), *range(50)):
            run.log("loss", float(step) ** 0.5, step=step)
    a, b = make_runs(root, 2, points=30)  # log_array: one time for a call's points
    data = json_ready(collect_report(root, points=1000))
    page.goto("about:blank")
    load_report_source(page)
    for ids, name in (([run.run_id], "loss"), ([a.run_id, b.run_id], "val/acc")):
        for kind in ("step", "wall", "relative"):
            shown = page.evaluate(
                "([data, ids, name, x]) => window.reportSource(data).series(ids, name, { x })",
                [data, ids, name, kind],
            )
            server = series(root, ids, name, x=kind)
            assert shown["x"] == kind
            assert [(s["run_id"], s["x"], s["y"]) for s in shown["series"]] == [
                (s["run_id"], s["x"], s["y"]) for s in server["series"]
            ]
