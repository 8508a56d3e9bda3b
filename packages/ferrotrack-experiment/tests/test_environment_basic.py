"""Environment: workspace folders, a logger per level writing into the run's logs (never
duplicating lines across environments), child environments one level down."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

import ferrotrack.core as ft
from ferrotrack.experiment.common import Level, Metric
from ferrotrack.experiment.environment import Environment
from ferrotrack.experiment.factory import FactoryRegistry
from ferrotrack.experiment.trackers.tracker import Tracker
from ferrotrack.experiment.trackers.tracker_manager import TrackerManager


def test_folders_are_made_on_setup_and_setup_is_idempotent(tmp_path: Path) -> None:
    env = Environment(tmp_path / "ws", {"pipeline": {"epochs": 2}})
    assert not (tmp_path / "ws").exists()  # nothing made before setup or a first log line
    env.setup_environment()
    env.setup_environment()
    assert env.artifact_dir == tmp_path / "ws" / "artifacts"
    assert env.checkpoint_dir == tmp_path / "ws" / "checkpoints"
    assert env.log_dir == tmp_path / "ws" / "logs"
    assert all(d.is_dir() for d in (env.artifact_dir, env.checkpoint_dir, env.log_dir))
    assert isinstance(env.config, DictConfig)
    assert env.config.pipeline.epochs == 2
    assert env.config.pipeline.get("missing", 3) == 3
    assert isinstance(env.factory_registry, FactoryRegistry)
    env.close()


def test_without_a_run_the_logger_writes_workspace_log_txt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = Environment("ws", level=Level.EXPERIMENT)
    assert env.workspace == tmp_path / "ws"  # relative to the working folder, made absolute
    env.logger.info("hello")
    env.logger.debug("hidden")
    env.close()
    text = (env.workspace / "log.txt").read_text()
    assert "INFO" in text
    assert "hello" in text
    assert "hidden" not in text


def test_with_a_run_each_level_logs_into_the_runs_logs_folder(root: Path) -> None:
    with ft.start_run("exp", experiment="env") as run:
        env = Environment(root.parent / "ws", run=run, level=Level.TRIAL_RUN, debug=True)
        env.logger.debug("details")
        env.logger.warning("careful")
        env.close()
    text = (run.run_dir / "logs" / "trial_run.log").read_text().splitlines()
    assert [line.split(" ", 3)[2:] for line in text] == [
        ["DEBUG", "ferrotrack.experiment.trial_run: details"],
        ["WARNING", "ferrotrack.experiment.trial_run: careful"],
    ]
    assert env.tracker_manager.run is run
    assert env.tracker_manager.workspace == env.workspace


def test_two_environments_never_share_handlers(root: Path, tmp_path: Path) -> None:
    with ft.start_run("a", experiment="env") as run_a, ft.start_run("b", experiment="env") as run_b:
        first = Environment(tmp_path / "a", run=run_a, level=Level.TRIAL)
        second = Environment(tmp_path / "b", run=run_b, level=Level.TRIAL)
        third = Environment(tmp_path / "c", run=run_b, level=Level.TRIAL_RUN)
        first.logger.info("one")
        second.logger.info("two")
        third.logger.info("three")
        for env in (first, second, third):
            env.close()
    assert (run_a.run_dir / "logs" / "trial.log").read_text().count("\n") == 1
    assert "one" in (run_a.run_dir / "logs" / "trial.log").read_text()
    b_text = (run_b.run_dir / "logs" / "trial.log").read_text()
    assert b_text.count("\n") == 1
    assert "two" in b_text
    assert "three" in (run_b.run_dir / "logs" / "trial_run.log").read_text()
    assert first.logger is not second.logger
    assert not set(first.logger.handlers) & set(second.logger.handlers)


def test_verbose_prints_to_the_console_and_lines_reach_the_package_logger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    quiet = Environment(tmp_path / "q")
    loud = Environment(tmp_path / "l", verbose=True)
    with caplog.at_level(logging.INFO, logger="ferrotrack.experiment"):
        quiet.logger.info("quiet line")
        loud.logger.info("loud line")
    err = capsys.readouterr().err
    assert "loud line" in err
    assert "quiet line" not in err
    assert [r.getMessage() for r in caplog.records] == ["quiet line", "loud line"]
    for env in (quiet, loud):
        env.close()
    assert loud.logger.handlers == []


def test_a_child_is_one_level_down_in_a_subfolder(root: Path, tmp_path: Path) -> None:
    class PerLevel(Tracker):
        def create_child(self, workspace: str | Path | None = None) -> Tracker:
            return PerLevel(workspace)

    registry = FactoryRegistry()
    parent_manager = TrackerManager(None, [PerLevel()])
    parent = Environment(
        tmp_path, {"a": 1}, factory_registry=registry, tracker_manager=parent_manager, verbose=True
    )
    with ft.start_run("trial", experiment="env") as run:
        child = parent.create_child("trial_0", run=run)
        grandchild = child.create_child("repeat_0", config={"b": 2})
        assert (child.workspace, child.level) == (tmp_path / "trial_0", Level.TRIAL)
        assert child.run is run
        assert child.tracker_manager.run is run
        assert child.tracker_manager is not parent.tracker_manager
        assert child.tracker_manager.level == Level.TRIAL
        assert child.tracker_manager.workspace == tmp_path / "trial_0"
        assert child.tracker_manager.trackers[0].workspace == tmp_path / "trial_0"
        assert child.factory_registry is registry
        assert child.config.a == 1
        assert child.verbose
        assert grandchild.level == Level.TRIAL_RUN
        assert grandchild.run is run  # no run of its own: its parent's
        assert grandchild.workspace == tmp_path / "trial_0" / "repeat_0"
        assert OmegaConf.to_container(grandchild.config) == {"b": 2}
        pipeline = grandchild.create_child("p", level=Level.PIPELINE)
        grandchild.tracker_manager.track(Metric.TRAIN_LOSS, 1.0, 0)
        for env in (parent, child, grandchild, pipeline):
            env.close()
    deepest = Environment(tmp_path, level=Level.BATCH).create_child("x")
    assert deepest.level == Level.BATCH
    deepest.close()
    for bad in ("", "a/b", "..", "."):
        with pytest.raises(ValueError, match="expected a folder name"):
            parent.create_child(bad)


def test_a_given_tracker_manager_gets_the_run_and_workspace(root: Path, tmp_path: Path) -> None:
    manager = TrackerManager(level=Level.TRIAL_RUN)
    with ft.start_run("r", experiment="env") as run:
        env = Environment(tmp_path, tracker_manager=manager, run=run, level=Level.TRIAL_RUN)
        assert env.tracker_manager is manager
        assert manager.run is run
        assert manager.workspace == tmp_path
        env.close()
    with ft.start_run("s", experiment="env") as other:
        env = Environment(tmp_path, tracker_manager=TrackerManager(other))
        assert env.run is other
        env.close()


def test_verbose_lines_show_once_when_the_root_logger_prints_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``logging.basicConfig`` (a root handler on stderr), a verbose environment adds
    no console handler of its own: each line once."""
    console = logging.StreamHandler(sys.stderr)
    root_logger = logging.getLogger()
    root_logger.addHandler(console)
    try:
        loud = Environment(tmp_path / "l", verbose=True)
        loud.logger.warning("said once")
        loud.close()
    finally:
        root_logger.removeHandler(console)
    assert capsys.readouterr().err.count("said once") == 1
