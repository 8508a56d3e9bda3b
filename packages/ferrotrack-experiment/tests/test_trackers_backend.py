"""Backends named in env.yaml: real ``jsonl`` and ``tensorboard`` backends get the points of
a run started with ``backends=manager.backend_specs()`` through ferrotrack's delivery; a
config the backend refuses fails at creation, naming the tracker and the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

import ferrotrack.core as ft
from ferrotrack.backends.jsonl import JsonlBackend
from ferrotrack.experiment.common import Level, Metric
from ferrotrack.experiment.errors import ConfigError, UnknownNameError
from ferrotrack.experiment.trackers.backend_tracker import BackendTracker, backend_names
from ferrotrack.experiment.trackers.tracker_manager import TrackerManager


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_installed_backends_are_tracker_names() -> None:
    assert {"jsonl", "tensorboard", "mlflow", "sql"} <= set(backend_names())


def test_points_and_events_reach_a_jsonl_backend_through_delivery(root: Path) -> None:
    tracker = BackendTracker("jsonl", OmegaConf.create({"type": "jsonl", "fsync": True}))
    manager = TrackerManager(None, [tracker], level=Level.TRIAL_RUN)
    (spec,) = manager.backend_specs()
    assert isinstance(spec, JsonlBackend)
    assert spec.state == "initialized"
    with ft.start_run("t/0", experiment="mirror", backends=manager.backend_specs()) as run:
        manager.run = run
        manager.on_create(Level.EPOCH, epoch_id=0)
        manager.on_start(Level.EPOCH)
        for step in range(3):
            manager.track(Metric.TRAIN_LOSS, 1.0 / (step + 1), step)
        manager.track(Metric.CUSTOM, ("throughput", 12.5), 2)
        manager.track(Metric.NETWORK, object())
        manager.on_end(Level.EPOCH)
    got = records(run.run_dir / "mirror.jsonl")
    assert [(r["name"], r["step"], r["value"]) for r in got if r["type"] == "point"] == [
        ("train/loss", 0, 1.0),
        ("train/loss", 1, 0.5),
        ("train/loss", 2, 1 / 3),
        ("throughput", 2, 12.5),
    ]
    kinds = [(r["kind"], r["step"]) for r in got if r["type"] == "event"]
    assert kinds == [("level_start", 0), ("level_end", 0)]
    assert got[-1]["status"] == "finished"


def test_each_run_gets_a_fresh_tensorboard_backend(root: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing import event_accumulator as ea

    tracker = BackendTracker("tensorboard", {"logdir": str(tmp_path / "tb" / "{name}")})
    manager = TrackerManager(None, [tracker])
    first, second = manager.backend_specs(), manager.backend_specs()
    assert first[0] is not second[0]
    for name, specs in (("a", first), ("b", second)):
        with ft.start_run(name, experiment="tb", backends=specs) as run:
            child = manager.create_child(run, level=Level.TRIAL_RUN)
            for step in range(4):
                child.track(Metric.VAL_ACC, step / 4, step)
    for name in ("a", "b"):
        acc = ea.EventAccumulator(str(tmp_path / "tb" / name))
        acc.Reload()
        assert [(e.step, e.value) for e in acc.Scalars("val/acc")] == [
            (0, 0.0),
            (1, 0.25),
            (2, 0.5),
            (3, 0.75),
        ]


def test_a_bad_key_fails_at_creation_naming_tracker_and_key() -> None:
    with pytest.raises(ConfigError, match=r"key 'pathh'.*tracker 'jsonl'.*path") as caught:
        BackendTracker("jsonl", {"type": "jsonl", "pathh": "x.jsonl"})
    assert caught.value.key == "pathh"
    with pytest.raises(ConfigError, match=r"key 'fsync'.*tracker 'jsonl'.*bool"):
        BackendTracker("jsonl", {"fsync": "sometimes"})


def test_a_secret_in_a_refused_config_is_not_repeated() -> None:
    with pytest.raises(ConfigError) as caught:
        BackendTracker("jsonl", {"token": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(caught.value)
    assert "token" in str(caught.value)


def test_an_unknown_backend_lists_the_installed_ones() -> None:
    with pytest.raises(UnknownNameError, match=r"unknown backend 'jsnol'.*jsonl"):
        BackendTracker("jsnol")


def test_the_settings_config_is_under_the_trackers_own(
    root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__JSONL__PATH", str(tmp_path / "settings.jsonl"))
    from_settings = BackendTracker("jsonl").backend_spec()
    own = BackendTracker("jsonl", {"path": str(tmp_path / "own.jsonl")}).backend_spec()
    assert isinstance(from_settings, JsonlBackend)
    assert isinstance(own, JsonlBackend)
    assert from_settings.config.path == tmp_path / "settings.jsonl"
    assert own.config.path == tmp_path / "own.jsonl"


def test_its_hooks_do_nothing_and_its_child_is_itself(tmp_path: Path) -> None:
    tracker = BackendTracker("jsonl", workspace=tmp_path)
    assert tracker.create_child(tmp_path / "child") is tracker
    tracker.track(Metric.TRAIN_LOSS, 1.0, 0)
    tracker.on_end(Level.EPOCH)
    assert repr(tracker) == "BackendTracker('jsonl', keys=[])"
