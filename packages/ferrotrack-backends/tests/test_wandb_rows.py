"""Points grouped into W&B history rows (no wandb process needed): every point lands in
exactly one row, at its step, in step order, and no row holds a name twice."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ferrotrack.backends.wandb import STEP_METRIC
from ferrotrack.backends.wandb.rows import history_rows, refused_name
from ferrotrack.core.plugins.arrow import metrics_to_batch
from ferrotrack.core.plugins.metric import MetricData

points = st.lists(
    st.tuples(
        st.sampled_from(["loss", "acc", "lr", "val/loss", "_step"]),
        st.integers(-3, 40),
        st.floats(allow_nan=False, width=64),
        st.integers(1_600_000_000_000_000_000, 1_900_000_000_000_000_000),
    ),
    max_size=200,
)


@settings(max_examples=200, deadline=None)
@given(points)
def test_every_point_lands_in_one_row_at_its_step(pts: list[tuple[str, int, float, int]]) -> None:
    batch = metrics_to_batch(
        [MetricData(name=n, value=v, step=s, timestamp=t) for n, s, v, t in pts]
    )
    built = history_rows(batch, STEP_METRIC)
    got = Counter(
        (name, row[STEP_METRIC], value)
        for row in built.rows
        for name, value in row.items()
        if name not in (STEP_METRIC, "_timestamp")
    )
    kept = [(n, s, v) for n, s, v, _ in pts if n != "_step"]
    assert got == Counter(kept), "each point once, at its step"
    steps = [row[STEP_METRIC] for row in built.rows]
    assert steps == sorted(steps), "rows in step order"
    assert len(built.rows) <= len(kept)
    refused = sum(1 for n, *_ in pts if n == "_step")
    assert built.refused.get("_step", (0, ""))[0] == refused
    for row in built.rows:  # the row's time is the latest of its points
        step = row[STEP_METRIC]
        times = [t for n, s, _, t in pts if s == step and n in row and n != "_step"]
        assert row["_timestamp"] <= max(times) / 1e9 + 1e-6
    for name, (step, value) in built.last.items():
        mine = [(s, v) for n, s, v, _ in pts if n == name]
        top = max(s for s, _ in mine)
        assert (step, value) == (top, [v for s, v in mine if s == top][-1])


def test_a_name_logged_twice_at_one_step_gets_a_second_row() -> None:
    batch = metrics_to_batch(
        [
            MetricData(name="loss", value=1.0, step=5),
            MetricData(name="acc", value=0.1, step=5),
            MetricData(name="loss", value=2.0, step=5),
            MetricData(name="loss", value=0.5, step=3),
        ]
    )
    rows = history_rows(batch, STEP_METRIC).rows
    assert [{k: v for k, v in r.items() if k != "_timestamp"} for r in rows] == [
        {"loss": 0.5, STEP_METRIC: 3},
        {"loss": 1.0, "acc": 0.1, STEP_METRIC: 5},
        {"loss": 2.0, STEP_METRIC: 5},
    ]


def test_names_wandb_cannot_take() -> None:
    for name in ["", "_step", "_runtime", "_timestamp", "_wandb", "_wandb.x", STEP_METRIC]:
        assert refused_name(name, STEP_METRIC) is not None, name
    for name in ["loss", "_loss", "a.b", "train/loss", "x" * 300]:
        assert refused_name(name, STEP_METRIC) is None, name
