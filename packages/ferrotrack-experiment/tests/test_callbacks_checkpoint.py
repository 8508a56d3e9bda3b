"""CheckpointCallback: Metric.NETWORK saved every `interval` epochs, as a run artifact with a
checkpoint event; pickle without torch, a torch state_dict with it."""

from __future__ import annotations

import json
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

import ferrotrack.core as ft
from ferrotrack.experiment import (
    CallbackFactory,
    CheckpointCallback,
    ConfigError,
    Environment,
    Level,
    Metric,
    Pipeline,
    RunStatus,
)
from ferrotrack.experiment.callbacks import checkpoint


class Network:
    """A picklable stand-in for a model (no state_dict: always pickled)."""

    def __init__(self, weights: list[float]) -> None:
        self.weights = weights

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Network) and other.weights == self.weights

    __hash__ = None  # type: ignore[assignment]


class Training(Pipeline):
    network_from: int = 0

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        for epoch in range(config.epochs):
            self.run_epoch(epoch)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> RunStatus:
        self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0 / (epoch_idx + 1)
        self.epoch_metrics[Metric.CUSTOM] = ("lr_scale", 0.5)
        self.epoch_metrics[Metric.CUSTOM_UNTRACKED] = [("debug", 1)]
        if epoch_idx >= self.network_from:
            self.epoch_metrics[Metric.NETWORK] = Network([float(epoch_idx)])
        return RunStatus.SUCCESS


@pytest.fixture
def env(root: Path, tmp_path: Path) -> Iterator[Environment]:
    run = ft.start_run("trial/0", experiment="checkpoints")
    environment = Environment(tmp_path / "workspace", run=run, level=Level.TRIAL_RUN)
    yield environment
    environment.close()
    run.finish()


def checkpoint_events(run: ft.Run) -> list[dict[str, Any]]:
    rows = ft.events(run_id=run.run_id, kind="checkpoint").to_dicts()
    return [{**row, "data": json.loads(row["data"])} for row in rows]


@pytest.fixture
def without_torch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """torch cannot be imported (a ``None`` entry in ``sys.modules`` makes the import raise
    ImportError), as on a machine without it; the cached lookup forgets it before and after."""
    monkeypatch.setitem(sys.modules, "torch", None)
    checkpoint._torch.cache_clear()
    yield
    checkpoint._torch.cache_clear()


@pytest.mark.usefixtures("without_torch")
def test_without_torch_the_network_is_pickled_every_interval_as_an_artifact(
    env: Environment,
) -> None:
    assert checkpoint._torch() is None
    pipeline = Training(env)
    callback = CheckpointCallback(interval=2)
    pipeline.register_callback(callback)
    pipeline.run(OmegaConf.create({"epochs": 5}))

    assert [p.name for p in callback.saved] == ["epoch_1.pkl", "epoch_3.pkl"]
    assert all(p.parent == env.checkpoint_dir for p in callback.saved)
    run = env.run
    assert run is not None
    run.finish()
    artifacts = run.run_dir / "artifacts" / "checkpoints"
    assert sorted(p.name for p in artifacts.iterdir()) == ["epoch_1.pkl", "epoch_3.pkl"]
    with (artifacts / "epoch_3.pkl").open("rb") as saved:
        assert pickle.load(saved) == Network([3.0])
    events = checkpoint_events(run)
    assert [(e["name"], e["step"]) for e in events] == [("epoch_1.pkl", 1), ("epoch_3.pkl", 3)]
    metrics = events[1]["data"]["metrics"]
    assert metrics == {"train/loss": 0.25, "lr_scale": 0.5}  # no network, no untracked
    assert not list(env.checkpoint_dir.glob("*.partial"))


def test_epochs_without_a_network_warn_once_and_save_nothing(env: Environment) -> None:
    pipeline = Training(env)
    pipeline.network_from = 3
    callback = CheckpointCallback()
    pipeline.register_callback(callback)
    with pytest.warns(RuntimeWarning, match="no Metric.NETWORK") as caught:
        pipeline.run(OmegaConf.create({"epochs": 5}))
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert [p.name for p in callback.saved] == ["epoch_3.pkl", "epoch_4.pkl"]


def test_the_interval_counts_epochs_of_each_run(env: Environment) -> None:
    callback = CheckpointCallback(env, interval=3)
    for _ in range(2):
        callback.on_start()
        for epoch in range(4):
            callback.on_epoch_end(10 + epoch, {Metric.NETWORK: Network([])})
        assert [p.name for p in callback.saved] == ["epoch_12.pkl"]


def test_from_config_reads_the_interval(env: Environment) -> None:
    callback = CallbackFactory.create(
        "CheckpointCallback", OmegaConf.create({"type": "CheckpointCallback", "interval": 4}), env
    )
    assert isinstance(callback, CheckpointCallback)
    assert (callback.interval, callback.env) == (4, env)


@pytest.mark.parametrize("interval", [0, -2, 1.5, "2", True])
def test_a_bad_interval_is_a_config_error(interval: Any) -> None:
    with pytest.raises(ConfigError, match="interval must be an int >= 1") as caught:
        CheckpointCallback(interval=interval)
    assert caught.value.key == "interval"


def test_with_torch_a_state_dict_is_saved(tmp_path: Path) -> None:
    """The torch branch, with the real torch where it is installed."""
    torch = pytest.importorskip("torch")
    checkpoint._torch.cache_clear()
    try:
        model = torch.nn.Linear(3, 2)
        path = checkpoint.save_network(model, tmp_path / "epoch_0")
        assert path.name == "epoch_0.pt"
        state = torch.load(path)
        assert set(state) == {"weight", "bias"}
        assert torch.equal(state["weight"], model.state_dict()["weight"])
        # an object without a state_dict is pickled even with torch
        assert checkpoint.save_network([1, 2], tmp_path / "plain").suffix == ".pkl"
    finally:
        checkpoint._torch.cache_clear()
