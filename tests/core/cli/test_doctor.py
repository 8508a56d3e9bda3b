"""``ferrotrack doctor``: unreadable files are problems, and ``--fix`` repairs them.

These tests need ``_native.verify_run`` and the recovery that quarantines unreadable
segments (the store crate's part of issue 10): until the extension has them, they fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

import ferrotrack.core as ft
from ferrotrack.core.cli.app import build
from ferrotrack.core.errors import StoreCorruptError

if TYPE_CHECKING:
    from tests.core.conftest import MakeRun


def doctor(store: Path, *args: str) -> Result:
    return CliRunner().invoke(build(), ["--root", str(store), "doctor", *args])


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_segment_is_a_problem_and_fix_quarantines_it(
    make_run: MakeRun, store: Path
) -> None:
    run = make_run([("loss", float(i), i) for i in range(10)])
    make_run([("loss", 1.0, 0)])  # a healthy neighbour
    segments = sorted((run / "metrics").glob("part-*.parquet"))
    _truncate(segments[-1])
    with pytest.raises(StoreCorruptError):
        ft.metrics(store).collect()
    res = doctor(store, "--json")
    assert res.exit_code == 1, res.output
    (entry,) = json.loads(res.output)["runs"]
    assert any(segments[-1].name in p for p in entry["problems"]), entry
    res = doctor(store, "--fix", "--json")
    assert res.exit_code == 0, res.output
    (entry,) = json.loads(res.output)["runs"]
    assert "fixed" in entry
    assert "remaining" not in entry
    assert not segments[-1].exists()  # moved aside (quarantined), not read again
    assert ft.metrics(store).collect().height >= 1  # readable again, the neighbour's point too
    assert doctor(store).exit_code == 0


def test_a_truncated_summary_is_a_problem_and_fix_rebuilds_it(
    make_run: MakeRun, store: Path
) -> None:
    run = make_run([("loss", 2.0, 0), ("acc", 0.5, 0)])
    summary = next(run.glob("summary*.parquet"))
    _truncate(summary)
    res = doctor(store, "--json")
    assert res.exit_code == 1
    (entry,) = json.loads(res.output)["runs"]
    assert any("summary" in p for p in entry["problems"]), entry
    assert doctor(store, "--fix").exit_code == 0
    row = ft.runs(store).row(0, named=True)
    assert row["loss.last"] == 2.0
    assert doctor(store).exit_code == 0


def test_verify_run_reports_each_unreadable_file(make_run: MakeRun) -> None:
    from ferrotrack.core import _native

    verify_run = _native.verify_run  # type: ignore[attr-defined, unused-ignore]
    run = make_run([("loss", 1.0, 0)], flushes=1)
    segment = next((run / "metrics").glob("part-*.parquet"))
    assert verify_run(run) == []
    _truncate(segment)
    found = verify_run(run)
    assert [Path(p).name for p, _ in found] == [segment.name]
    assert all(isinstance(problem, str) and problem for _, problem in found)
