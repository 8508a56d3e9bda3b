"""Corrupt files are seen, not hidden: ``verify_run`` names them, ``recover_run`` repairs
them, and summaries that cannot be read are rebuilt from the segments with a warning."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import ferrotrack.core as ft
from ferrotrack.core._native import MetricWriter, read_run, recover_run, verify_run
from ferrotrack.core.errors import StoreCorruptWarning

if TYPE_CHECKING:
    from tests.core.conftest import MakeRun


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


POINTS = [("loss", float(10 - i), i) for i in range(10)] + [("acc", 0.5, 0), ("acc", 0.75, 1)]


def test_a_truncated_segment_is_named_and_recovery_sets_it_aside(
    make_run: MakeRun, store: Path
) -> None:
    run = make_run(POINTS[:4])
    # Two more segments, kept apart (no compaction).
    with MetricWriter(run, background=False, compact_small_rows=0) as w:
        for name, value, step in POINTS[4:8]:
            w.log(name, value, step=step)
        w.flush()
        for name, value, step in POINTS[8:]:
            w.log(name, value, step=step)
    assert verify_run(run) == []
    segments = sorted((run / "metrics").glob("part-*.parquet"))
    assert len(segments) == 3
    _truncate(segments[1])
    ((path, problem),) = verify_run(run)
    assert path == str(segments[1])
    assert "Parquet" in problem
    assert "\n" not in problem
    report = recover_run(run)
    assert [Path(p).parent.name for p in report["quarantined"]] == [".quarantine"]
    assert report["rebuilt_summaries"] == [0]
    assert verify_run(run) == []
    kept = len(read_run(run))
    assert 0 < kept < len(POINTS)
    table = ft.runs(store)
    assert table["loss.last"].to_list() == [1.0], "the last segment was kept"
    summed = ft.metrics(store).collect().height
    assert summed == kept, "summary and points agree again"


def test_a_truncated_summary_warns_and_its_values_are_rebuilt_from_the_segments(
    make_run: MakeRun, store: Path
) -> None:
    run = make_run(POINTS, flushes=2)
    make_run([("loss", 7.0, 0)], rank=1, run_id=run.name.removeprefix("run="))
    healthy = ft.runs(store)
    summary = run / "summary.parquet"
    _truncate(summary)
    assert [p for p, _ in verify_run(run)] == [str(summary)]

    with pytest.warns(StoreCorruptWarning, match="doctor --fix") as caught:
        table = ft.runs(store)
    assert any(str(summary) in str(w.message) for w in caught)
    assert table.select("loss.last", "loss.min", "acc.max").row(0) == healthy.select(
        "loss.last", "loss.min", "acc.max"
    ).row(0)
    assert table["loss.last"].to_list() == [7.0], "rank 1's later point is the last"
    with pytest.warns(StoreCorruptWarning, match="summary.parquet"):
        finals = ft.final_values("acc", store)
    assert finals["value"].to_list() == [0.75]

    report = recover_run(run)
    assert report["rebuilt_summaries"] == [0]
    assert verify_run(run) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ft.runs(store)["loss.min"].to_list() == [1.0]
        assert ft.final_values("acc", store)["value"].to_list() == [0.75]


def test_runs_show_and_delivery_read_a_truncated_summary_through_the_store(
    make_run: MakeRun, store: Path
) -> None:
    """Every summary read goes through the store crate: ``ferrotrack runs show`` and the
    count delivery uses for its end of the store both see the rebuilt values, warned."""
    from click.testing import CliRunner

    from ferrotrack.core.cli.app import build
    from ferrotrack.core.delivery.source import store_rows

    run = make_run(POINTS)
    _truncate(next(run.glob("summary*.parquet")))
    with pytest.warns(StoreCorruptWarning, match="summary"):
        assert store_rows(run, 0) == len(POINTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreCorruptWarning)
        out = CliRunner().invoke(
            build(), ["--root", str(store), "runs", "show", run.name.removeprefix("run="), "--json"]
        )
    assert out.exit_code == 0, out.output
    assert '"last": 1.0' in out.output
