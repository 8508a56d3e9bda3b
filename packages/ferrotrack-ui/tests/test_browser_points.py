"""``static/points.js`` in chromium, for hypothesis-generated inputs: a live chart's series
reduced in the page keeps at most the points asked for, the first and last point and the
extremes, in order; wall-clock x values go to local dates and back (in a time zone with
summer time, so local is not UTC)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import pytest
from browser import browser_fixture  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playwright.sync_api import Browser, Page

from ferrotrack.ui.report.bundle import static_folder

pytestmark = pytest.mark.slow
ZONE = "Europe/Berlin"


@pytest.fixture(name="points_page")
def points_page_fixture(browser: Browser) -> Iterator[Page]:
    """A blank page in ZONE with points.js's functions as globals."""
    context = browser.new_context(timezone_id=ZONE)
    page = context.new_page()
    page.goto("about:blank")
    code = re.sub(r"^export ", "", (static_folder() / "points.js").read_text(), flags=re.M)
    page.add_script_tag(
        content=code + "\nObject.assign(window, { reducePoints, wallToLocal, localToWall });\n"
    )
    yield page
    context.close()


Y = st.one_of(st.floats(-1e6, 1e6), st.just(math.nan), st.none())


@st.composite
def series(draw: st.DrawFn) -> tuple[list[float], list[float | None], int]:
    steps = draw(st.lists(st.integers(0, 10**9), min_size=1, max_size=600, unique=True))
    xs = sorted(float(s) for s in steps)
    ys = draw(st.lists(Y, min_size=len(xs), max_size=len(xs)))
    return xs, ys, draw(st.integers(4, 200))


def test_reduce_points_keeps_a_bounded_faithful_subset(points_page: Page) -> None:
    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(series())
    def check(case: tuple[list[float], list[float | None], int]) -> None:
        xs, ys, points = case
        # NaN is not JSON: the page gets it as a string and turns it back into NaN
        sent = ["NaN" if isinstance(y, float) and math.isnan(y) else y for y in ys]
        out = points_page.evaluate(
            """([xs, ys, n]) => {
                const r = reducePoints(xs, ys.map((y) => (y === "NaN" ? NaN : y)), n);
                return { x: r.x, y: r.y.map((y) => (Number.isNaN(y) ? "NaN" : y)) };
            }""",
            [xs, sent, points],
        )
        if len(xs) <= points:
            assert out == {"x": xs, "y": sent}
            return
        assert len(out["x"]) <= points
        pairs = list(zip(xs, sent, strict=True))
        kept = list(zip(out["x"], out["y"], strict=True))
        assert kept == [p for p in pairs if p in kept]  # a subset, in order
        assert kept[0] == pairs[0]
        assert kept[-1] == pairs[-1]
        finite = [y for y in sent if isinstance(y, float)]
        if finite:
            assert min(finite) in out["y"]
            assert max(finite) in out["y"]

    check()


def test_wall_time_goes_to_local_dates_and_back(points_page: Page) -> None:
    # a summer and a winter instant in Berlin: 2 and 1 hours ahead of UTC
    assert points_page.evaluate("() => wallToLocal(Date.UTC(2024, 6, 1, 10, 0, 0, 250))") == (
        "2024-07-01T12:00:00.250"
    )
    assert points_page.evaluate("() => wallToLocal(Date.UTC(2024, 0, 1, 10))") == (
        "2024-01-01T11:00:00.000"
    )
    # plotly reports a zoom as "YYYY-MM-DD HH:MM:SS.ffff" in the axis' (local) dates
    assert points_page.evaluate("() => localToWall('2024-07-01 12:00:00.25')") == (1719828000250)

    @settings(max_examples=100, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(st.integers(0, 4_102_444_800_000))  # 1970 to 2100, in ms
    def round_trip(ms: int) -> None:
        back = points_page.evaluate("(ms) => localToWall(wallToLocal(ms))", ms)
        text = points_page.evaluate("(ms) => wallToLocal(ms).replace('T', ' ')", ms)
        # the hour summer time repeats in autumn reads back as its first occurrence
        assert back == ms or back == ms - 3_600_000
        assert points_page.evaluate("(t) => localToWall(t)", text) == back

    round_trip()
