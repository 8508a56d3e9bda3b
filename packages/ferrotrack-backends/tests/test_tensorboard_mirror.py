"""The ``tensorboard`` backend mirroring real runs, read back by TensorBoard's own
EventAccumulator, its HParams plugin and tbparse: every point, tag, step and wall time
(wall times within 120 ns: TensorBoard stores double seconds), once across resumes and
syncs, with clear errors when the logdir cannot be written."""

from __future__ import annotations

import logging
import math
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import ferrotrack.core as ft
from ferrotrack.backends.tensorboard import TensorboardBackend
from ferrotrack.core.delivery.replay import sync_run

HERE = str(Path(__file__).parent)
if HERE not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, HERE)
from tensorboard_fixtures import (  # noqa: E402
    WALL_NS,
    accumulator,
    as_float32,
    ea_scalars,
    ea_tensor_scalars,
    hparams_view,
    same_value,
    wall_error_ns,
)

ENV = "FERROTRACK_BACKEND_CONFIGS__TENSORBOARD__"
NAMES = ("train/loss", "acc", "ünï/cödé ✓")
STEPS = 1500


def value(name: str, step: int, rank: int) -> float:
    """Values with NaN and infinities among them."""
    if step % 97 == 5:
        return math.nan
    if step % 211 == 7:
        return math.inf if name == "acc" else -math.inf
    return (len(name) + rank) / (step + 1) + step * 1e-7


def stored(run_id: str) -> dict[tuple[int, str], list[tuple[int, float, int]]]:
    """``{(rank, name): [(step, value, ns)]}`` from ferrotrack's store, in logged order."""
    frame = ft.metrics(runs=run_id).collect()
    frame = frame.with_columns(pl.col("name").cast(pl.String), pl.col("timestamp").cast(pl.Int64))
    out: dict[tuple[int, str], list[tuple[int, float, int]]] = {}
    for rank, name, step, ns, v in frame.select(
        "rank", "name", "step", "timestamp", "value"
    ).rows():
        out.setdefault((rank, name), []).append((step, v, ns))
    return out


def check_same(
    mirrored: dict[str, list[tuple[int, float, float]]],
    expected: dict[str, list[tuple[int, float, int]]],
    float32: bool,
) -> None:
    assert sorted(mirrored) == sorted(expected)
    for tag, points in expected.items():
        got = mirrored[tag]
        assert [s for s, _, _ in got] == [s for s, _, _ in points], tag
        want = [as_float32(v) if float32 else v for _, v, _ in points]
        assert all(same_value(a, b) for (_, a, _), b in zip(got, want, strict=True)), tag
        worst = max(wall_error_ns(w, ns) for (_, _, w), (_, _, ns) in zip(got, points, strict=True))
        assert worst <= WALL_NS, (tag, worst)


def test_two_ranks_every_point_for_event_accumulator_and_tbparse(root: Path) -> None:
    from tbparse import SummaryReader

    first = ft.start_run(experiment="exp", params={"lr": 0.01}, backends=["tensorboard"])
    second = ft.start_run(
        experiment="exp", run_id=first.run_id, rank=1, resume=True, backends=["tensorboard"]
    )
    for step in range(STEPS):
        for rank, run in enumerate((first, second)):
            run.log({n: value(n, step, rank) for n in NAMES}, step=step)
    second.finish()
    first.finish()
    logdir = first.run_dir / "tensorboard"
    want = stored(first.run_id)
    assert sum(len(v) for v in want.values()) == 2 * STEPS * len(NAMES)
    for rank, folder in ((0, logdir), (1, logdir / "rank1")):
        expected = {n: want[(rank, n)] for n in NAMES}
        check_same(ea_scalars(folder), expected, float32=True)
    frame = SummaryReader(str(logdir), extra_columns={"wall_time", "dir_name"}).scalars
    assert len(frame) == 2 * STEPS * len(NAMES)
    for (rank, name), points in want.items():
        part = frame[(frame["tag"] == name) & (frame["dir_name"] == ("" if rank == 0 else "rank1"))]
        assert part["step"].tolist() == [s for s, _, _ in points]
        assert all(
            same_value(a, as_float32(b))
            for a, (_, b, _) in zip(part["value"].tolist(), points, strict=True)
        )
        walls = part["wall_time"].tolist()
        assert max(wall_error_ns(w, ns) for w, (_, _, ns) in zip(walls, points, strict=True)) <= (
            WALL_NS
        )


def test_float64_scalars_are_exact(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tbparse import SummaryReader

    monkeypatch.setenv(ENV + "FLOAT64", "true")
    with ft.start_run(experiment="exp", backends=["tensorboard"]) as run:
        for step in range(300):
            run.log({n: value(n, step, 0) for n in NAMES}, step=step)
    logdir = run.run_dir / "tensorboard"
    want = stored(run.run_id)
    check_same(ea_tensor_scalars(logdir), {n: want[(0, n)] for n in NAMES}, float32=False)
    tensors = SummaryReader(str(logdir), event_types={"tensors"}).tensors
    loss = tensors[tensors["tag"] == "train/loss"]
    assert [float(v) for v in loss["value"]][:5] == [v for _, v, _ in want[(0, "train/loss")][:5]]


def test_hparams_dashboard_shows_params_status_and_final_metrics(root: Path) -> None:
    params = {"lr": 3e-4, "optim": {"name": "adamw", "betas": [0.9, 0.99]}, "amp": True}
    with ft.start_run(experiment="exp", params=params, backends=["tensorboard"]) as run:
        for step in range(50):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 50}, step=step)
    experiment, groups = hparams_view(run.run_dir / "tensorboard")
    infos = {h["name"]: h["type"] for h in experiment["hparamInfos"]}
    assert infos == {
        "lr": "DATA_TYPE_FLOAT64",
        "optim.name": "DATA_TYPE_STRING",
        "optim.betas": "DATA_TYPE_STRING",
        "amp": "DATA_TYPE_BOOL",
    }
    assert {m["name"]["tag"] for m in experiment["metricInfos"]} == {"loss", "acc"}
    (group,) = groups["sessionGroups"]
    assert group["hparams"] == {
        "lr": 3e-4,
        "optim.name": "adamw",
        "optim.betas": "[0.9, 0.99]",
        "amp": True,
    }
    (session,) = group["sessions"]
    assert session["status"] == "STATUS_SUCCESS"
    finals = {m["name"]["tag"]: (m["value"], m["trainingStep"]) for m in session["metricValues"]}
    assert finals == {"loss": (as_float32(1 / 50), 49), "acc": (as_float32(49 / 50), 49)}


def test_a_failed_run_ends_its_session_as_failure(root: Path) -> None:
    run = ft.start_run(experiment="exp", params={"a": 1}, backends=["tensorboard"])

    def fail() -> None:
        with run:
            run.log("x", 1.0, step=0)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail()
    _, groups = hparams_view(run.run_dir / "tensorboard")
    assert groups["sessionGroups"][0]["sessions"][0]["status"] == "STATUS_FAILURE"


def test_a_crashed_run_ends_its_session_as_failure(tmp_path: Path) -> None:
    from ferrotrack.backends.tensorboard.hparams import status_of
    from ferrotrack.core.records import RunInfo

    assert status_of("crashed") == "failure"
    backend = TensorboardBackend()
    backend.initialize({"logdir": str(tmp_path / "tb")})
    with backend:
        backend.open_run(RunInfo("e", "c" * 32, "n", tmp_path, started=10**18, params={"a": 1}), {})
        backend.set_status("crashed")
    _, groups = hparams_view(tmp_path / "tb")
    assert groups["sessionGroups"][0]["sessions"][0]["status"] == "STATUS_FAILURE"


def test_hparams_false_writes_no_hparams_session(tmp_path: Path) -> None:
    """``hparams = false``: neither the session start (params at opening) nor its end."""
    from ferrotrack.core.records import RunInfo

    backend = TensorboardBackend()
    backend.initialize({"logdir": str(tmp_path / "tb"), "hparams": False})
    with backend:
        backend.open_run(RunInfo("e", "d" * 32, "n", tmp_path, started=10**18, params={"a": 1}), {})
        backend.set_status("finished")
    tensors = accumulator(tmp_path / "tb").Tags()["tensors"]
    assert tensors, "the status text is written"
    assert not [t for t in tensors if t.startswith("_hparams_")], tensors


def test_every_point_once_across_a_resume_and_a_sync(root: Path) -> None:
    with ft.start_run(experiment="exp", backends=["tensorboard"]) as run:
        for step in range(400):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 400}, step=step)
    with ft.start_run(
        experiment="exp", run_id=run.run_id, resume=True, backends=["tensorboard"]
    ) as again:
        again.log("loss", -1.0, step=400)
    backend = TensorboardBackend()
    backend.initialize({})
    with backend:
        report = sync_run(run.run_dir, backend)
    assert report.ok
    assert report.points_sent == 0, "the sync found the cursor: nothing twice"
    logdir = run.run_dir / "tensorboard"
    assert len(list(logdir.glob("events.out.tfevents.*"))) == 3, "run, resume, sync: a file each"
    got = ea_scalars(logdir)
    assert Counter((s, v) for s, v, _ in got["loss"]) == Counter(
        [(s, as_float32(1.0 / (s + 1))) for s in range(400)] + [(400, -1.0)]
    )
    assert len(got["acc"]) == 400


def test_a_sync_of_a_run_without_the_backend_writes_it_whole_once(root: Path) -> None:
    with ft.start_run(experiment="exp", params={"a": 1}, tags={"team": "x"}) as run:
        for step in range(200):
            run.log("x", float(step), step=step)
    for _ in range(2):
        backend = TensorboardBackend()
        backend.initialize({})
        with backend:
            assert sync_run(run.run_dir, backend).ok
    got = ea_scalars(run.run_dir / "tensorboard")
    assert [(s, v) for s, v, _ in got["x"]] == [(s, float(s)) for s in range(200)]
    _, groups = hparams_view(run.run_dir / "tensorboard")
    assert groups["sessionGroups"][0]["hparams"] == {"a": 1.0}


def test_logdir_placeholders_and_relative_paths(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV + "LOGDIR", str(root.parent / "tb" / "{experiment}" / "{name}-{run_id}"))
    with ft.start_run("first", experiment="exp", backends=["tensorboard"]) as run:
        run.log("x", 1.0, step=0)
    folder = root.parent / "tb" / "exp" / f"first-{run.run_id}"
    assert [(s, v) for s, v, _ in ea_scalars(folder)["x"]] == [(0, 1.0)]
    monkeypatch.setenv(ENV + "LOGDIR", "mirror/{run_id}")
    with ft.start_run(experiment="exp", backends=["tensorboard"]) as run:
        run.log("x", 2.0, step=0)
    assert ea_scalars(run.run_dir / "mirror" / run.run_id)["x"][0][:2] == (0, 2.0)


def test_an_unwritable_logdir_names_the_backend_the_run_and_what_to_do(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = root.parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(ENV + "LOGDIR", str(blocker / "tb"))
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "2")
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="exp", backends=["tensorboard"]) as run,
    ):
        for step in range(30):
            run.log("x", float(step), step=step)
    messages = [r.getMessage() for r in caplog.records if "backend 'tensorboard'" in r.getMessage()]
    assert messages, [r.getMessage() for r in caplog.records]
    assert str(blocker / "tb") in messages[0]
    assert run.run_id in messages[0]
    assert "backend_configs.tensorboard.logdir" in messages[0]
    assert f"ferrotrack sync {run.run_id} --backend tensorboard" in messages[0]
    assert ft.metrics(runs=run.run_id).collect().height == 30, "the store keeps every point"
