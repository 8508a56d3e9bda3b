"""PluginRun: a run set up first and started later (seed 002's ``Experiment``)."""

from __future__ import annotations

from pathlib import Path

import pytest

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins import PluginRun

from .conftest import RecordingBackend


def test_registered_instances_join_the_run_and_named_ones_too(root: Path) -> None:
    by_hand = RecordingBackend()
    exp = PluginRun("setup-first", experiment="plugins", params={"seed": 1})
    exp._plugin_manager.register_plugin(by_hand)
    with pytest.raises(InvalidArgumentError, match="not started: call start"):
        exp.log_metric("early", 1.0)
    with exp:
        assert ft.active_run() is exp.run
        exp.log_metric("loss", 0.5, iteration=2)
        exp.log_params({"optim": {"lr": 0.1}})
        assert exp.start() is exp.run  # a second start is the same run
    assert exp.status == "finished"
    assert by_hand.points == [("loss", 2, 0.5)]
    (row,) = ft.runs(experiment="plugins").iter_rows(named=True)
    assert row["name"] == "setup-first"
    assert row["params.optim.lr"] == 0.1
    assert row["params.seed"] == 1


def test_an_exception_in_the_block_fails_the_run(root: Path) -> None:
    exp = PluginRun("boom")
    with pytest.raises(ValueError, match="bad batch"), exp:
        raise ValueError("bad batch")
    assert exp.status == "failed"


def test_bad_arguments_are_refused_before_anything_runs(root: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="backend or backends, not both"):
        PluginRun("x", backend="jsonl", backends=["jsonl"])
    with pytest.raises(InvalidArgumentError, match="expected a name or a list"):
        PluginRun("x", backend=3)  # type: ignore[arg-type]
    PluginRun("never-started").stop()  # nothing to finish: no error
    assert ft.runs().height == 0
