"""Seed 001, "2. Pipeline Class Structure", the two decorator sections and "Factory
Implementation": ``YourPipeline`` built by ``YourPipelineFactory``.

The guide writes ``run`` and ``run_epoch`` as top-level blocks, outside any class: they stay
top-level functions here and the class body takes them as methods (the two lines after the
guide's class, context). ``run`` returns at once (its body is "Your implementation here"),
so ``run_epoch`` is attached but not called. ``YourPipelineFactory.create`` takes no ``id``:
the experiment calls every pipeline factory as ``create(name, config, env)``, so a factory
without ``id`` works.

Run: ``python examples/experiment/pipelines/your_pipeline.py``.
"""

# fmt: off
# ruff: noqa: I001, F401, UP006, UP035, RUF013
# mypy: disable-error-code="assignment, no-untyped-def, override, has-type, no-any-return"
from pathlib import Path

from ferrotrack.experiment import Experiment, FactoryRegistry, FactoryType, PipelineFactory
import time
import numpy as np
from omegaconf import DictConfig
from typing import Dict, Any

from ferrotrack.experiment import Level, Metric, RunStatus
from ferrotrack.experiment import Environment
from ferrotrack.experiment import Pipeline
from ferrotrack.experiment import YAMLSerializable

@Pipeline.run_wrapper
def run(self, config: DictConfig) -> Dict[str, Any]:
    """Run the pipeline with proper lifecycle management."""
    # Your implementation here
    return {"status": "completed"}

@Pipeline.epoch_wrapper
def run_epoch(self, epoch_idx: int, model, *args, **kwargs) -> RunStatus:
    """Run one epoch with proper epoch lifecycle management."""
    # Your epoch implementation here
    return RunStatus.SUCCESS

@YAMLSerializable.register("YourPipelineName")
class YourPipeline(Pipeline, YAMLSerializable):
    """Your pipeline description."""

    def __init__(self, env: Environment, id: int = None):
        Pipeline.__init__(self, env)
        YAMLSerializable.__init__(self)
        self.name = "YourPipelineName"

    @classmethod
    def from_config(cls, config: DictConfig, env: Environment, id: int = None):
        return cls(env, id)

    # Context: the guide's top-level run and run_epoch (above) become this class's methods.
    run = run
    run_epoch = run_epoch

class YourPipelineFactory(PipelineFactory):
    @staticmethod
    def create(name: str, config: DictConfig, env: Environment) -> Pipeline:
        return YourPipeline.from_config(config, env)


# Context: run the experiment with the guide's factory registered.
if __name__ == "__main__":
    registry = FactoryRegistry()
    registry.register(FactoryType.PIPELINE, YourPipelineFactory())
    experiment = Experiment.create(Path(__file__).parent / "configs" / "your_pipeline",
                                   factory_registry=registry)
    outcome = experiment.run()
    print(experiment.results().select("trial", "repeat", "status"))
