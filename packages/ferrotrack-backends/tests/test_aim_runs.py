"""The ``aim`` backend against the real Aim SDK: the run read back from the repository with
``aim.Repo`` (hparams, tags, status, every point with its step, NaN and infinities kept),
the same Aim run across a resume and a sync, no lock left, clear errors.

Aim's first import takes about 2 s, and the first ``Repo`` of a folder in a process about
1.5 s more (Aim runs its database migrations in a subprocess).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import aim  # noqa: F401  (imported, not skipped: without the extra these tests fail)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.backends.aim import AimBackend
from ferrotrack.backends.aim.backend import STATE_KEY
from ferrotrack.backends.aim.tags import tags_after
from ferrotrack.core.delivery.replay import sync_run
from ferrotrack.core.errors import PermanentBackendError
from ferrotrack.core.plugins.arrow import metrics_to_batch
from ferrotrack.core.plugins.metric import MetricData
from ferrotrack.core.records import RunInfo


def aim_run(repo: Path, run_hash: str) -> Any:
    from aim.sdk.repo import Repo

    found = Repo.from_path(str(repo)).get_run(run_hash)
    assert found is not None, f"Aim run {run_hash} not in {repo}"
    return found


def series(run: Any, name: str, context: dict[str, Any] | None = None) -> list[tuple[int, float]]:
    """(step, value) of a metric of an Aim run, in step order."""
    from aim.storage.context import Context

    wanted: Any = context or {}
    metric = run.get_metric(name, Context(wanted))
    assert metric is not None, name
    steps, (values, *_) = metric.data.numpy()
    return list(zip(steps.tolist(), values.tolist(), strict=True))


def no_locks(repo: Path) -> None:
    for folder in (repo / ".aim" / "locks", repo / ".aim" / "meta" / "locks"):
        left = list(folder.glob("*")) if folder.is_dir() else []
        assert left == [], f"Aim locks left: {left}"


def same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return len(a) == len(b) and all(
        sa == sb and (va == vb or (math.isnan(va) and math.isnan(vb)))
        for (sa, va), (sb, vb) in zip(a, b, strict=True)
    )


def hash_of(run_dir: Path) -> str:
    import json

    state = json.loads((run_dir / "sync" / "aim" / "state.json").read_text())
    return str(state["state"][STATE_KEY])


@pytest.mark.slow
def test_a_run_is_an_aim_run_with_everything(root: Path) -> None:
    with ft.start_run(
        experiment="exp",
        name="first",
        params={"lr": 0.1, "model": {"depth": 3, "act": "relu"}},
        tags={"team": "a", "flag": ""},
        backends=["aim"],
    ) as run:
        for step in range(300):
            run.log({"train/loss": 1.0 / (step + 1), "acc": step / 300}, step=step)
        run.log("train/loss", math.nan, step=300)
        run.log("train/loss", math.inf, step=301)
        run.log("train/loss", -math.inf, step=302)
        run.log_params({"seed": 3, "model": {"depth": 4}})
        run.set_tags({"team": None, "stage": "b"})
    got = aim_run(root, hash_of(run.run_dir))
    assert got.name == "first"
    assert got.experiment == "exp"
    assert got["hparams"] == {"lr": 0.1, "model": {"depth": 4, "act": "relu"}, "seed": 3}
    assert sorted(got.tags) == ["flag", "stage:b"]
    assert got["ferrotrack"]["run_id"] == run.run_id
    assert got["ferrotrack"]["status"] == "finished"
    assert got.active is False, "closed"
    loss = [(s, 1.0 / (s + 1)) for s in range(300)]
    loss += [(300, math.nan), (301, math.inf), (302, -math.inf)]
    assert same(series(got, "train/loss"), loss), "NaN and infinities kept"
    assert series(got, "acc") == [(s, s / 300) for s in range(300)]
    no_locks(root)


@pytest.mark.slow
def test_one_repository_per_store_holds_every_run(root: Path) -> None:
    from aim.sdk.repo import Repo

    hashes = set()
    for name in ("a", "b"):
        with ft.start_run(experiment=f"exp-{name}", backends=["aim"]) as run:
            run.log("x", 1.0, step=0)
        hashes.add(hash_of(run.run_dir))
    assert (root / ".aim").is_dir()
    found = {r.hash: r.experiment for r in Repo.from_path(str(root)).iter_runs()}
    assert set(found) == hashes
    assert sorted(found.values()) == ["exp-a", "exp-b"]


@pytest.mark.slow
def test_a_resume_and_a_sync_write_the_same_aim_run_once(root: Path) -> None:
    with ft.start_run(experiment="exp", backends=["aim"]) as run:
        for step in range(200):
            run.log("x", float(step), step=step)
    first = hash_of(run.run_dir)
    with ft.start_run(experiment="exp", run_id=run.run_id, resume=True, backends=["aim"]) as again:
        again.log("x", -1.0, step=200)
        again.log_params({"later": True})
    backend = AimBackend()
    backend.initialize({})
    with backend:
        report = sync_run(run.run_dir, backend)
    assert report.ok
    assert report.points_sent == 0
    assert hash_of(run.run_dir) == first, "the same Aim run"
    got = aim_run(root, first)
    assert series(got, "x") == [(s, float(s)) for s in range(200)] + [(200, -1.0)]
    assert got["hparams"] == {"later": True}
    assert got["ferrotrack"]["status"] == "finished"
    no_locks(root)


@pytest.mark.slow
def test_a_retried_batch_and_other_ranks(tmp_path: Path) -> None:
    backend = AimBackend()
    backend.initialize({"repo": str(tmp_path / "repo"), "experiment": "mirrors"})
    batch = metrics_to_batch([MetricData(name="loss", value=float(i), step=i) for i in range(10)])
    with backend:
        backend.open_run(RunInfo("e", "r1", "n", tmp_path, started=0, rank=None), {})
        backend.handle_points(batch, 0)
        backend.handle_points(batch, 0)  # delivery's retry after an unknown outcome
        backend.handle_points(batch, 3)
        backend.set_status("failed")
        run_hash = backend.run_hash
    assert run_hash is not None
    got = aim_run(tmp_path / "repo", run_hash)
    assert got.experiment == "mirrors"
    assert series(got, "loss") == [(i, float(i)) for i in range(10)], "a step holds one value"
    assert series(got, "loss", {"rank": 3}) == [(i, float(i)) for i in range(10)]
    assert got["ferrotrack"]["status"] == "failed"
    no_locks(tmp_path / "repo")


def test_a_live_rank_above_zero_is_refused_with_what_to_do(tmp_path: Path) -> None:
    backend = AimBackend()
    backend.initialize({})
    with pytest.raises(PermanentBackendError, match=r"rank 2's points reach Aim with"):
        backend.open_run(RunInfo("e", "r1", "n", tmp_path, started=0, rank=2), {})


@pytest.mark.slow
def test_an_unwritable_repository_names_the_backend_the_run_and_the_folder(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = root.parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__AIM__REPO", str(blocker))
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "2")
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="exp", backends=["aim"]) as run,
    ):
        for step in range(20):
            run.log("x", float(step), step=step)
    messages = [r.getMessage() for r in caplog.records if "degraded" in r.getMessage()]
    assert len(messages) == 1, messages
    assert "backend 'aim' cannot open an Aim run for run" in messages[0]
    assert run.run_id in messages[0]
    assert str(blocker) in messages[0]
    assert ft.metrics(runs=run.run_id).collect().height == 20, "the store keeps every point"


def test_tags_mapping() -> None:
    add, drop = tags_after(["a:1", "b", "other"], {"a": None, "b": "2", "c": ""})
    assert add == {"b:2", "c"}
    assert drop == {"a:1", "b"}


_values = st.lists(
    st.one_of(
        st.floats(allow_nan=False, width=64), st.sampled_from([math.nan, math.inf, -math.inf])
    ),
    max_size=60,
)


@pytest.mark.slow
@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=_values)
def test_values_round_trip_through_aim(tmp_path: Path, values: list[float]) -> None:
    repo = tmp_path / "repo"  # one repository, a new Aim run per example
    backend = AimBackend()
    backend.initialize({"repo": str(repo)})
    batch = metrics_to_batch([MetricData(name="v", value=v, step=i) for i, v in enumerate(values)])
    with backend:
        backend.open_run(RunInfo("e", "r", "n", tmp_path, started=0), {})
        backend.handle_points(batch, 0)
        backend.set_status("finished")
        run_hash = backend.run_hash
    assert run_hash is not None
    got = aim_run(repo, run_hash)
    if values:
        assert same(series(got, "v"), list(enumerate(values)))
    else:
        assert list(got.metrics()) == []


def test_a_missing_aim_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from ferrotrack.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "aim", None)  # import aim now fails
    backend = AimBackend()
    backend.initialize({})
    with pytest.raises(MissingDependencyError, match=r"pip install ferrotrack-backends\[aim\]"):
        backend.open_run(RunInfo("e", "r1", "n", tmp_path, started=0), {})
