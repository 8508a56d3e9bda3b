"""Callback and CallbackFactory: built by name from a config section, fields as keyword
arguments, the guide's debug-metrics callback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from ferrotrack.experiment import (
    Callback,
    CallbackFactory,
    ConfigError,
    EarlyStopping,
    Environment,
    FactoryRegistry,
    FactoryType,
    Metric,
    MetricsTracker,
    UnknownNameError,
    YAMLSerializable,
)
from ferrotrack.experiment.callbacks.callback import named_metrics


@YAMLSerializable.register("FactoryTestCounter")
class Counter(Callback):
    def __init__(self, env: Environment | None = None, start: int = 0, step: int = 1) -> None:
        super().__init__(env)
        self.count = start
        self.step = step

    def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> bool:
        self.count += self.step
        return False


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Environment]:
    environment = Environment(tmp_path / "workspace")
    yield environment
    environment.close()


def test_create_passes_the_sections_fields_but_type(env: Environment) -> None:
    section = OmegaConf.create({"type": "FactoryTestCounter", "start": 5, "step": "${.start}"})
    callback = CallbackFactory.create("FactoryTestCounter", section, env)
    assert isinstance(callback, Counter)
    assert (callback.env, callback.count, callback.step) == (env, 5, 5)


def test_the_built_in_callbacks_are_known_by_name(env: Environment) -> None:
    factory = FactoryRegistry().get(FactoryType.CALLBACK)
    assert isinstance(factory, CallbackFactory)
    built = factory.create("EarlyStopping", {"type": "EarlyStopping", "mode": "max"}, env)
    assert isinstance(built, EarlyStopping)
    assert built.mode == "max"
    assert isinstance(factory.create("MetricsTracker", None, env), MetricsTracker)


def test_an_unknown_name_lists_the_known_callbacks(env: Environment) -> None:
    with pytest.raises(UnknownNameError, match="unknown callback 'Nope'") as caught:
        CallbackFactory.create("Nope", {}, env)
    assert {"EarlyStopping", "CheckpointCallback", "MetricsTracker", "FactoryTestCounter"} <= set(
        caught.value.known
    )


def test_unknown_fields_name_the_callback_and_what_it_takes(env: Environment) -> None:
    with pytest.raises(ConfigError, match=r"Counter has no field 'stride'.*takes start, step") as e:
        CallbackFactory.create("FactoryTestCounter", {"stride": 2}, env)
    assert e.value.key == "stride"
    with pytest.raises(ConfigError, match="must be a mapping"):
        CallbackFactory.create("FactoryTestCounter", ["start", 2], env)


def test_the_guides_debug_metrics_callback_reads_untracked_metrics(env: Environment) -> None:
    """Seed 001's DebugMetricsCallback, unchanged but for imports (and two type: ignore
    comments: the guide annotates Metric-keyed metrics as Dict[str, Any])."""
    warnings: list[str] = []

    class DebugMetricsCallback(Callback):
        """Process untracked debug metrics."""

        def on_epoch_end(self, epoch_idx: int, metrics: dict[str, Any]) -> bool:
            # Access untracked metrics
            if Metric.CUSTOM_UNTRACKED in metrics:  # type: ignore[comparison-overlap]
                for name, value in metrics[Metric.CUSTOM_UNTRACKED]:  # type: ignore[index]
                    # Conditional logging based on debug values
                    if "debug_gradient_max" in name and value > 10.0:
                        self.env.logger.warning(f"High gradient detected: {value}")  # type: ignore[union-attr]

            return False  # Continue training

    callback = DebugMetricsCallback(env)
    env.logger.warning = warnings.append  # type: ignore[method-assign,assignment]
    metrics: dict[Any, Any] = {Metric.CUSTOM_UNTRACKED: [("debug_gradient_max", 12.0)]}
    verdict = callback.on_epoch_end(0, metrics)
    assert verdict is False
    assert warnings == ["High gradient detected: 12.0"]


def test_named_metrics_uses_store_names() -> None:
    metrics: dict[Any, Any] = {
        Metric.TRAIN_LOSS: 1.0,
        Metric.CUSTOM: [("a", 2.0), ("b", 3.0)],
        Metric.CUSTOM_UNTRACKED: ("c", 4.0),
        Metric.NETWORK: object(),
        Metric.CONFUSION: [[1]],
        "plain": 5.0,
    }
    assert named_metrics(metrics) == {"train/loss": 1.0, "a": 2.0, "b": 3.0, "plain": 5.0}
    assert named_metrics(metrics, untracked=True)["c"] == 4.0


def test_a_built_in_callbacks_name_never_replaces_a_users_tracker(env: Environment) -> None:
    """One name, two kinds: the callback entry point ``MetricsTracker`` and a user's tracker
    registered as ``MetricsTracker`` each resolve to their own kind, in any order."""
    from ferrotrack.experiment import Tracker, TrackerFactory

    @YAMLSerializable.register("MetricsTracker")
    class UsersMetricsTracker(Tracker):
        pass

    try:
        assert TrackerFactory.create("MetricsTracker", OmegaConf.create({}), None).__class__ is (
            UsersMetricsTracker
        )
        built = CallbackFactory.create("MetricsTracker", OmegaConf.create({}), env)
        assert isinstance(built, MetricsTracker)
        again = TrackerFactory.create("MetricsTracker", OmegaConf.create({}), None)
        assert isinstance(again, UsersMetricsTracker)
    finally:
        YAMLSerializable._registry.pop("MetricsTracker", None)
