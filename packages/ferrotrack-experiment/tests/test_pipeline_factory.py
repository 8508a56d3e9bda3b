"""PipelineFactory: a pipeline by its registered name, its run_wrapper checked, the callbacks
its config lists built through the environment's callback factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

import ferrotrack.core as ft
from ferrotrack.experiment import (
    Callback,
    CallbackFactory,
    ConfigError,
    EarlyStopping,
    Environment,
    FactoryRegistry,
    FactoryType,
    Level,
    Metric,
    MetricsTracker,
    Pipeline,
    PipelineError,
    PipelineFactory,
    RunStatus,
    UnknownNameError,
    YAMLSerializable,
)


@YAMLSerializable.register("FactoryTestPipeline")
class FactoryTestPipeline(Pipeline, YAMLSerializable):
    """The guide's shape: both bases, its own __init__ and from_config."""

    def __init__(self, env: Environment, id: int | None = None) -> None:
        Pipeline.__init__(self, env, id)
        YAMLSerializable.__init__(self)
        self.name = "FactoryTestPipeline"

    @classmethod
    def from_config(
        cls,
        config: DictConfig,
        env: Environment,
        id: int | None = None,
    ) -> FactoryTestPipeline:
        return cls(env, id)

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        for epoch in range(config.pipeline.epochs):
            self.run_epoch(epoch)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> RunStatus:
        self.epoch_metrics[Metric.VAL_LOSS] = 1.0  # never improves after epoch 0
        return RunStatus.SUCCESS


@YAMLSerializable.register("FactoryTestNoDefaults")
class NoDefaults(Pipeline):
    """No __init__, no from_config (seed 001's manual pipeline)."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> str:
        return "ran"


@YAMLSerializable.register("FactoryTestTwoArgFromConfig")
class TwoArgFromConfig(NoDefaults):
    @classmethod
    def from_config(cls, config: DictConfig, env: Environment) -> TwoArgFromConfig:  # type: ignore[override]
        return cls(env)


@YAMLSerializable.register("FactoryTestUnwrapped")
class Unwrapped(Pipeline):
    def run(self, config: DictConfig) -> None:
        pass


@YAMLSerializable.register("FactoryTestNotAPipeline")
class NotAPipeline(YAMLSerializable):
    pass


@pytest.fixture
def env(root: Path, tmp_path: Path) -> Iterator[Environment]:
    run = ft.start_run("trial/0", experiment="factory")
    environment = Environment(tmp_path / "workspace", run=run, level=Level.TRIAL_RUN)
    yield environment
    environment.close()
    run.finish()


def config(**pipeline: Any) -> DictConfig:
    return OmegaConf.create({"pipeline": {"epochs": 6, **pipeline}})


def test_create_builds_the_registered_pipeline_with_its_id(env: Environment) -> None:
    pipeline = PipelineFactory.create("FactoryTestPipeline", config(), env, 7)
    assert isinstance(pipeline, FactoryTestPipeline)
    assert (pipeline.env, pipeline.id, pipeline.callbacks) == (env, 7, [])


def test_the_registry_default_factory_is_a_pipeline_factory(env: Environment) -> None:
    factory = FactoryRegistry().get(FactoryType.PIPELINE)
    assert isinstance(factory, PipelineFactory)
    assert isinstance(factory.create("FactoryTestPipeline", config(), env), FactoryTestPipeline)


@pytest.mark.parametrize("name", ["FactoryTestNoDefaults", "FactoryTestTwoArgFromConfig"])
def test_pipelines_without_the_full_signatures_are_built(env: Environment, name: str) -> None:
    pipeline = PipelineFactory.create(name, config(), env)
    assert pipeline.run(config()) == "ran"
    assert pipeline.status is RunStatus.COMPLETED


def test_an_unknown_name_lists_the_registered_pipelines(env: Environment) -> None:
    with pytest.raises(UnknownNameError) as caught:
        PipelineFactory.create("NoSuchPipeline", config(), env)
    message = str(caught.value)
    assert message.startswith("unknown pipeline 'NoSuchPipeline'; registered pipelines:")
    assert "FactoryTestPipeline" in caught.value.known
    assert "FactoryTestNoDefaults" in message
    assert "EarlyStopping" not in caught.value.known  # only pipelines are listed


def test_a_run_without_run_wrapper_is_a_pipeline_error_naming_the_class(
    env: Environment,
) -> None:
    with pytest.raises(PipelineError, match=r"Unwrapped.*lacks @Pipeline\.run_wrapper"):
        PipelineFactory.create("FactoryTestUnwrapped", config(), env)


def test_a_registered_class_that_is_not_a_pipeline_is_a_pipeline_error(
    env: Environment,
) -> None:
    with pytest.raises(PipelineError, match="NotAPipeline, which is not a Pipeline subclass"):
        PipelineFactory.create("FactoryTestNotAPipeline", config(), env)


def test_callbacks_of_the_config_are_built_and_registered(env: Environment) -> None:
    cfg = config(
        callbacks=[
            {"type": "EarlyStopping", "metric": "val_loss", "patience": 2},
            {"type": "MetricsTracker"},
        ]
    )
    pipeline = PipelineFactory.create("FactoryTestPipeline", cfg, env)
    early, tracker = pipeline.callbacks
    assert isinstance(early, EarlyStopping)
    assert (early.metric, early.patience, early.env) == ("val/loss", 2, env)
    assert isinstance(tracker, MetricsTracker)

    pipeline.run(cfg)
    assert pipeline.status is RunStatus.STOPPED  # epoch 0 best, 1 and 2 no better
    assert (env.workspace / "metrics.csv").read_text().splitlines()[1:] == [
        "0,1.0",
        "1,1.0",
        "2,1.0",
    ]


def test_the_environments_callback_factory_is_used(env: Environment) -> None:
    """Seed 000's intent: a factory instance that injects a service into its callbacks."""

    class Injecting(CallbackFactory):
        def __init__(self, service: object) -> None:
            self.service = service

        def create(self, name: str, config: Any, env: Environment | None = None) -> Callback:  # type: ignore[override]
            callback = CallbackFactory.create(name, config, env)
            callback.service = self.service  # type: ignore[attr-defined]
            return callback

    service = object()
    env.factory_registry.register(FactoryType.CALLBACK, Injecting(service))
    pipeline = PipelineFactory.create(
        "FactoryTestPipeline", config(callbacks=[{"type": "MetricsTracker"}]), env
    )
    assert pipeline.callbacks[0].service is service  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("callbacks", "key", "message"),
    [
        ("EarlyStopping", "pipeline.callbacks", "expected a list"),
        (["EarlyStopping"], "pipeline.callbacks[0]", "expected a mapping"),
        ([{"patience": 2}], "pipeline.callbacks[0].type", "expected a 'type'"),
        ([{"type": "MetricsTracker"}, {"type": ""}], "pipeline.callbacks[1].type", "EarlyStopping"),
    ],
)
def test_a_malformed_callbacks_list_is_a_config_error_naming_the_key(
    env: Environment, callbacks: Any, key: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        PipelineFactory.create("FactoryTestPipeline", config(callbacks=callbacks), env)
    assert caught.value.key == key


def test_an_unknown_callback_lists_the_registered_callbacks(env: Environment) -> None:
    cfg = config(callbacks=[{"type": "EarlyStoping"}])
    with pytest.raises(UnknownNameError, match="unknown callback 'EarlyStoping'") as caught:
        PipelineFactory.create("FactoryTestPipeline", cfg, env)
    assert {"CheckpointCallback", "EarlyStopping", "MetricsTracker"} <= set(caught.value.known)
    assert "in pipeline.callbacks[0].type" in (caught.value.__notes__ or [])


def test_a_field_the_callback_does_not_take_is_a_config_error(env: Environment) -> None:
    cfg = config(callbacks=[{"type": "EarlyStopping", "patiense": 2}])
    with pytest.raises(
        ConfigError, match=r"EarlyStopping has no field 'patiense'.*takes metric, patience"
    ):
        PipelineFactory.create("FactoryTestPipeline", cfg, env)


def test_a_config_without_pipeline_section_has_no_callbacks(env: Environment) -> None:
    pipeline = PipelineFactory.create("FactoryTestNoDefaults", OmegaConf.create({}), env)
    assert pipeline.callbacks == []
    plain = PipelineFactory.create("FactoryTestNoDefaults", {"pipeline": {}}, env)
    assert plain.callbacks == []
