"""Point lines built from Arrow columns read back as the points logged (property test)."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrotrack.backends.jsonl import point_lines, read_points
from ferrotrack.core.testing import point_batch as batch_of

Point = tuple[str, int, int, float]

points = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=12),
        st.integers(-(2**62), 2**62),
        st.integers(0, 2**62),
        st.floats(allow_nan=True, allow_infinity=True),
    ),
    max_size=60,
)


def refuse(constant: str) -> None:
    raise ValueError(f"not JSON: {constant}")


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=200, deadline=None)
@given(points, st.integers(0, 7))
def test_points_logged_are_the_points_read_back(rows: list[Point], rank: int) -> None:
    text = point_lines(batch_of(rows), "run-1", rank).decode("utf-8")
    lines = text.splitlines(keepends=True)
    assert len(lines) == len(rows)
    assert all(line.endswith("}\n") for line in lines)
    back = list(read_points(lines))
    assert [(n, s, t, r) for n, s, t, _, r in back] == [(n, s, t, rank) for n, s, t, _ in rows]
    assert all(same(b[3], r[3]) for b, r in zip(back, rows, strict=True))
    for line in lines:  # strict JSON: NaN and infinities are strings, not bare words
        value = json.loads(line, parse_constant=refuse)["value"]
        assert isinstance(value, float | str), "a float every time, never an int"


def test_a_sliced_batch_gives_only_its_rows() -> None:
    rows: list[Point] = [("a", i, i, float(i)) for i in range(10)]
    text = point_lines(batch_of(rows).slice(3, 4), "r", 0).decode()
    assert [p[1] for p in read_points(text.splitlines())] == [3, 4, 5, 6]


def test_an_empty_batch_writes_nothing() -> None:
    assert point_lines(batch_of([]), "r", 0) == b""
