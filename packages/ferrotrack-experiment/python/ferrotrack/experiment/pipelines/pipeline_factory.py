"""``PipelineFactory``: the pipeline a config names, with the callbacks it lists.

The check that ``run`` carries ``@Pipeline.run_wrapper`` happens here, before anything
runs: without it a trial would train untracked and its status would never be recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ferrotrack.experiment.callbacks.callback import Callback
from ferrotrack.experiment.errors import ConfigError, PipelineError, UnknownNameError
from ferrotrack.experiment.factory import Factory, FactoryRegistry, FactoryType
from ferrotrack.experiment.pipelines.pipeline import RUN_WRAPPER_MARK, Pipeline
from ferrotrack.experiment.serializable import YAMLSerializable

if TYPE_CHECKING:
    from ferrotrack.experiment.environment import Environment

__all__ = ["PipelineFactory", "pipeline_class"]


class PipelineFactory(Factory):
    """Builds pipelines by their registered name (``YAMLSerializable.register``)."""

    @staticmethod
    def create(
        name: str,
        config: Any,
        env: Environment,
        id: int | None = None,
    ) -> Pipeline:
        """The pipeline registered as ``name``, from ``cls.from_config(config, env, id)``,
        with the callbacks of ``config.pipeline.callbacks`` (a list of ``{type: Name, ...}``)
        built by the environment's callback factory and registered."""
        cls = pipeline_class(name)
        # A from_config written as (config, env), as in seed 001's factory section, works.
        pipeline = cls.from_config(config, env) if id is None else cls.from_config(config, env, id)
        if not isinstance(pipeline, Pipeline):
            raise PipelineError(
                f"{cls.__name__}.from_config returned {type(pipeline).__name__}, not a Pipeline"
            )
        for callback in build_callbacks(config, env):
            pipeline.register_callback(callback)
        return pipeline


def pipeline_class(name: str) -> type[Pipeline]:
    """The ``Pipeline`` subclass registered as ``name``, whose ``run`` is wrapped.

    ``UnknownNameError`` lists the registered pipelines; ``PipelineError`` says what is wrong
    with a class that is registered but cannot be run."""
    try:
        cls = YAMLSerializable.get_class(name, kind="pipeline", base=Pipeline)
    except UnknownNameError:
        try:
            other = YAMLSerializable.get_class(name)
        except UnknownNameError:
            other = None
        if other is not None:
            raise PipelineError(
                f"{name!r} is registered as {other.__qualname__}, which is not a Pipeline subclass"
            ) from None
        raise
    assert issubclass(cls, Pipeline)
    if not getattr(getattr(cls, "run", None), RUN_WRAPPER_MARK, False):
        raise PipelineError(
            f"pipeline {cls.__qualname__} ({name!r}): its run method lacks "
            f"@Pipeline.run_wrapper, so nothing of it would be tracked; decorate it"
        )
    return cls


def build_callbacks(config: Any, env: Environment) -> list[Callback]:
    """The callbacks ``config.pipeline.callbacks`` lists, each built by
    ``env.factory_registry.get(FactoryType.CALLBACK).create(type, section, env)``."""
    sections = _callback_sections(config)
    if not sections:
        return []
    registry = getattr(env, "factory_registry", None) or FactoryRegistry()
    factory = registry.get(FactoryType.CALLBACK)
    built: list[Callback] = []
    for index, section in enumerate(sections):
        key = f"pipeline.callbacks[{index}]"
        if not isinstance(section, Mapping):
            raise ConfigError(
                f"expected a mapping {{type: CallbackName, ...}}, got {type(section).__name__}",
                key=key,
            )
        kind = section.get("type")
        if not isinstance(kind, str) or not kind:
            known = YAMLSerializable.known_names(kind="callback", base=Callback)
            raise ConfigError(
                f"expected a 'type' naming a registered callback (one of: {', '.join(known)})",
                key=f"{key}.type",
            )
        try:
            callback = factory.create(kind, section, env)
        except UnknownNameError as exc:
            exc.add_note(f"in {key}.type")
            raise
        if not isinstance(callback, Callback):
            raise ConfigError(
                f"{kind!r} built a {type(callback).__name__}, not a Callback", key=f"{key}.type"
            )
        built.append(callback)
    return built


def _callback_sections(config: Any) -> Sequence[Any]:
    """``config.pipeline.callbacks`` of a ``DictConfig`` or a plain mapping; empty if absent."""
    if config is None:
        return []
    if not isinstance(config, Mapping):  # DictConfig is a Mapping
        raise ConfigError(f"expected a mapping of settings, got {type(config).__name__}")
    pipeline = config.get("pipeline")
    if pipeline is None:
        return []
    if not isinstance(pipeline, Mapping):
        raise ConfigError(f"expected a mapping, got {type(pipeline).__name__}", key="pipeline")
    sections = pipeline.get("callbacks")
    if sections is None:
        return []
    if isinstance(sections, (str, bytes)) or not isinstance(sections, Sequence):
        raise ConfigError(
            f"expected a list of {{type: CallbackName, ...}}, got {type(sections).__name__}",
            key="pipeline.callbacks",
        )
    return sections
