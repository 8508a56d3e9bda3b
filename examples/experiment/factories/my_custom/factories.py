"""Seed 000, "Quick Start" step 1: ``MyCustomPipelineFactory`` as the guide writes it.

The guide imports it as ``from my_custom.factories import MyCustomPipelineFactory``; the
troubleshooting section calls a custom factory ``MyFactory``, which is this one.
"""

# fmt: off
# (ruff format stays off: the guide's lines are kept exactly as written.)
# ruff: noqa: I001, RUF013
# mypy: disable-error-code="assignment, override, arg-type"
from omegaconf import DictConfig
from ferrotrack.experiment import Environment
from ferrotrack.experiment import PipelineFactory
from ferrotrack.experiment import Pipeline

class MyCustomPipelineFactory(PipelineFactory):
    """Custom factory with additional logic."""

    @staticmethod
    def create(name: str, config: DictConfig, env: Environment, id: int = None) -> Pipeline:
        # Add your custom logic here
        env.logger.info(f"üéØ Creating pipeline '{name}' with custom factory")

        # Optional: Add validation
        if "required_field" not in config.pipeline:
            raise ValueError("Missing required_field in pipeline config")

        # Call parent create to handle standard pipeline creation + callbacks
        pipeline = PipelineFactory.create(name, config, env, id)

        # Optional: Additional post-creation setup
        env.logger.info(f"‚úÖ Pipeline '{name}' created and customized")

        return pipeline


# Context: the troubleshooting section's custom factory, ``MyFactory``: this one, counting
# the pipelines it creates so that the examples can show whether it was used.
class MyFactory(MyCustomPipelineFactory):
    """``MyCustomPipelineFactory`` that counts what it creates (``MyFactory.created``)."""

    created = 0

    @staticmethod
    def create(name: str, config: DictConfig, env: Environment, id: int | None = None
               ) -> Pipeline:
        MyFactory.created += 1
        return MyCustomPipelineFactory.create(name, config, env, id)
