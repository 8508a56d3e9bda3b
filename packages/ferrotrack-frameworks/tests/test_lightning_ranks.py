"""Rank handling: a real 2-process DDP fit on CPU (gloo, ``lightning_ddp.py``), and the
logger's behaviour on a non-zero rank with Lightning's real ``rank_zero_only.rank`` set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lightning_utilities.core.rank_zero import rank_zero_only  # the one Lightning sets

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.frameworks.lightning import FerrotrackLogger, _logger
from ferrotrack.frameworks.lightning._logger import RUN_ID_ENV

HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test as a fresh process: no per_rank logger made in it yet."""
    monkeypatch.setattr(_logger, "_shared_ids", [])


def names_by_rank(root: Path, experiment: str) -> tuple[str, dict[int, set[str]]]:
    runs = ft.runs(root=root, experiment=experiment)
    assert runs.height == 1, runs
    run_id = runs["run_id"][0]
    frame = ft.metrics(root, runs=[run_id]).collect()
    by_rank: dict[int, set[str]] = {}
    for name, rank in frame.select("name", "rank").iter_rows():
        by_rank.setdefault(rank, set()).add(name)
    return run_id, by_rank


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_per_rank_and_rank_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "LOCAL_RANK", RUN_ID_ENV)}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, str(HERE / "lightning_ddp.py"), str(tmp_path / "store")],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    root = tmp_path / "store"
    per_rank_id, per_rank = names_by_rank(root, "per-rank")
    assert sorted(per_rank) == [0, 1]  # every process logged as its own ferrotrack rank
    assert {"rank0/seen", "train/loss"} <= per_rank[0]
    assert "rank1/seen" not in per_rank[0]
    assert {"rank1/seen", "train/loss"} <= per_rank[1]
    zero_id, zero = names_by_rank(root, "rank-zero")
    assert sorted(zero) == [0]  # only global rank 0 logged
    assert "rank0/seen" in zero[0]
    assert all("rank1" not in name for name in zero[0])
    assert per_rank_id != zero_id
    for experiment, run_id in (("per-rank", per_rank_id), ("rank-zero", zero_id)):
        folder = root / f"experiment={experiment}" / f"run={run_id}"
        assert json.loads((folder / "run.json").read_text())["status"] == "finished"
        assert json.loads((folder / "params.json").read_text())["hidden"] == 4
    # both ranks reported the same per-rank run id
    ids = [line for line in done.stdout.splitlines() if line.startswith("rank ")]
    assert len(ids) == 2
    assert all(per_rank_id in line for line in ids)
    # a second fit with a new per_rank logger: rank 1 (started once, at the first fit,
    # with the first id in its environment) joins the second run, not the first
    second_id, second = names_by_rank(root, "per-rank-second")
    assert second_id == f"{per_rank_id}-1"
    assert sorted(second) == [0, 1]
    assert "rank1/seen" in second[1]


@pytest.fixture
def rank_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as global rank 1, the way Lightning's strategy marks it."""
    monkeypatch.setattr(rank_zero_only, "rank", 1)


def test_on_rank_one_the_default_logger_logs_nothing(root: Path, rank_one: None) -> None:
    logger = FerrotrackLogger()
    assert logger.rank == 1
    logger.log_metrics({"a": 1.0}, step=0)
    logger.log_hyperparams({"lr": 0.1})
    logger.finalize("success")
    assert type(logger.experiment).__name__ == "_DummyExperiment"
    assert ft.active_run() is None
    assert not root.exists() or not any(root.iterdir())


def test_on_rank_one_per_rank_logs_as_rank_one_of_the_launchers_run(
    root: Path, rank_one: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RUN_ID_ENV, "0123456789abcdef0123456789abcdef")
    logger = FerrotrackLogger("ranks", per_rank=True)
    logger.log_metrics({"a": 1.0}, step=3)
    run = logger.experiment
    assert (run.run_id, run.rank) == ("0123456789abcdef0123456789abcdef", 1)
    logger.finalize("success")
    frame = ft.metrics(runs=[run.run_id]).collect()
    assert frame.select("name", "step", "rank").rows() == [("a", 3, 1)]


def test_per_rank_on_rank_one_without_a_shared_id_says_what_to_pass(
    rank_one: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RUN_ID_ENV, raising=False)
    with pytest.raises(InvalidArgumentError, match=r"rank 1.*pass run_id="):
        FerrotrackLogger(per_rank=True)


def test_later_per_rank_loggers_of_a_process_agree_across_ranks_without_the_environment(
    root: Path, rank_one: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 1 inherits the variable once; its n-th per_rank logger takes ``<id>-<n>``, as
    rank 0's does (rank 0's side: the test below and the DDP test)."""
    monkeypatch.setenv(RUN_ID_ENV, "launch")
    ids = [FerrotrackLogger("ranks", per_rank=True).version for _ in range(3)]
    assert ids == ["launch", "launch-1", "launch-2"]
    assert FerrotrackLogger("ranks", per_rank=True, run_id="given").version == "given"
    assert FerrotrackLogger("ranks", per_rank=True).version == "launch-3"


def test_a_pickled_logger_keeps_its_run_id_not_its_open_run(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``ddp_spawn`` does with the trainer's loggers: each process opens its own."""
    import pickle

    monkeypatch.setenv(RUN_ID_ENV, "stale")  # rank 0 makes a fresh id and hands it on
    logger = FerrotrackLogger("spawned", per_rank=True)
    assert os.environ[RUN_ID_ENV] == logger.version != "stale"
    assert FerrotrackLogger("spawned", per_rank=True).version == f"{logger.version}-1"
    assert os.environ[RUN_ID_ENV] == logger.version  # what the ranks inherited stays
    logger.log_metrics({"a": 1.0}, step=0)
    copy = pickle.loads(pickle.dumps(logger))
    assert copy.version == logger.version
    assert copy._run is None
    logger.finalize("success")
    assert copy.options == logger.options
