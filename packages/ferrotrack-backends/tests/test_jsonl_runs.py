"""The ``jsonl`` backend named in ``start_run`` and configured from settings: the contract
order, every point exactly once across a resume and a sync, and a clear error when the file
cannot be written (the run itself keeps every point)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

import ferrotrack.core as ft
from ferrotrack.backends.jsonl import JsonlBackend, read_points
from ferrotrack.backends.jsonl.config import DEFAULT_NAME
from ferrotrack.core.delivery.replay import sync_run

ENV = "FERROTRACK_BACKEND_CONFIGS__JSONL__PATH"


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def points(path: Path) -> list[tuple[str, int, float]]:
    return [(n, s, v) for n, s, _, v, _ in read_points(path)]


def test_records_come_in_the_contract_order(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = root.parent / "mirror" / "run.jsonl"
    monkeypatch.setenv(ENV, str(out))
    artifact = root.parent / "model.txt"
    artifact.write_text("weights")
    with ft.start_run(
        experiment="exp", params={"lr": 0.1}, tags={"team": "a"}, backends=["jsonl"]
    ) as run:
        run.log("loss", 1.0, step=0)
        run.log_event("checkpoint", name="ckpt-1")
        run.log("loss", 0.5, step=1)
        run.log_params({"seed": 3})
        run.set_tags({"team": None, "stage": "b"})
        run.log_artifact(artifact)
    got = records(out)
    assert [r["type"] for r in got] == [
        "open", "status", "point", "event", "point", "params", "tags", "artifact", "status",
    ]  # fmt: skip
    assert {r["run_id"] for r in got} == {run.run_id}
    opened = got[0]
    assert opened["experiment"] == "exp"
    assert opened["params"] == {"lr": 0.1}
    assert opened["tags"] == {"team": "a"}
    assert opened["run_dir"] == str(run.run_dir)
    assert opened["resumed"] is False
    assert got[1]["status"] == "running"
    assert got[3]["kind"] == "checkpoint"
    assert got[3]["name"] == "ckpt-1"
    assert got[3]["rows"] == 1
    assert got[5]["params"] == {"seed": 3}
    assert got[6]["tags"] == {"team": None, "stage": "b"}
    assert got[7]["name"] is None
    assert Path(got[7]["path"]).read_text() == "weights"
    assert got[8]["status"] == "finished"
    assert points(out) == [("loss", 0, 1.0), ("loss", 1, 0.5)]


def test_every_point_once_across_a_resume_and_a_sync(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = root.parent / "points.jsonl"
    monkeypatch.setenv(ENV, str(out))
    with ft.start_run(experiment="exp", backends=["jsonl"]) as run:
        for step in range(500):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 500}, step=step)
    with ft.start_run(
        experiment="exp", run_id=run.run_id, resume=True, backends=["jsonl"]
    ) as again:
        again.log("loss", -1.0, step=500)
    backend = JsonlBackend()
    backend.initialize({"path": out})
    with backend:
        report = sync_run(run.run_dir, backend)
    assert report.ok
    assert report.points_sent == 0, "the sync found the cursor: nothing twice"
    logged = [(n, s, v) for n, s, v in points(out)]
    assert len(logged) == 1001
    assert len(set(logged)) == 1001
    assert ("loss", 500, -1.0) in logged
    opens = [(r["resumed"], r["rank"]) for r in records(out) if r["type"] == "open"]
    assert opens == [(False, 0), (True, 0), (False, None)], "the run, its resume, the sync"


def test_a_sync_of_a_run_without_the_backend_writes_it_whole_once(root: Path) -> None:
    with ft.start_run(experiment="exp", params={"a": 1}) as run:
        for step in range(100):
            run.log("x", float(step), step=step)
    for _ in range(2):
        backend = JsonlBackend()
        backend.initialize({})
        with backend:
            assert sync_run(run.run_dir, backend).ok
    out = run.run_dir / DEFAULT_NAME
    assert points(out) == [("x", s, float(s)) for s in range(100)]
    kinds = [r["type"] for r in records(out)]
    assert kinds == ["open", "status", *["point"] * 100, "status", "open"], (
        "the second sync opens and finds nothing to send"
    )


def test_path_placeholders_and_relative_paths(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "mirrors/{experiment}-{run_id}.jsonl")
    with ft.start_run(experiment="exp", backends=["jsonl"]) as run:
        run.log("x", 1.0, step=0)
    out = run.run_dir / "mirrors" / f"exp-{run.run_id}.jsonl"
    assert points(out) == [("x", 0, 1.0)]


def test_an_unwritable_path_names_the_backend_and_the_path(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = root.parent / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "mirror.jsonl"
    monkeypatch.setenv(ENV, str(out))
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "2")
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="exp", backends=["jsonl"]) as run,
    ):
        for step in range(50):
            run.log("x", float(step), step=step)
    assert not out.exists()
    messages = [r.getMessage() for r in caplog.records]
    assert any("backend 'jsonl' cannot append to" in m and str(out) in m for m in messages), (
        messages
    )
    frame = ft.metrics(runs=run.run_id).collect()
    assert frame.height == 50, "the store keeps every point"


def test_a_write_failing_part_way_is_cut_back_so_the_retry_writes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from ferrotrack.core.plugins.arrow import metrics_to_batch
    from ferrotrack.core.plugins.metric import MetricData
    from ferrotrack.core.records import RunInfo

    out = tmp_path / "m.jsonl"
    mirror = JsonlBackend()
    mirror.initialize({"path": out})
    mirror.open_run(RunInfo("e", "r1", "n", tmp_path, started=0), {})
    batch = metrics_to_batch([MetricData(name="x", value=float(i), step=i) for i in range(100)])
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        monkeypatch.setattr(os, "write", full)
        return real_write(fd, data[: len(data) // 2])

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError, match=r"backend 'jsonl' cannot append to .*No space left"):
        mirror.handle_points(batch, 0)
    monkeypatch.setattr(os, "write", real_write)
    assert list(read_points(out)) == [], "the half batch was cut back"
    mirror.handle_points(batch, 0)  # delivery's retry
    assert [p[1] for p in read_points(out)] == list(range(100))
    mirror.stop()
