"""Seed 000, "Complete Working Example", file ``my_project/factories/resilient_factory.py``."""

# fmt: off
# ruff: noqa: I001, RUF013
# mypy: disable-error-code="assignment, override, attr-defined"
from omegaconf import DictConfig
from ferrotrack.experiment import Environment
from ferrotrack.experiment import PipelineFactory
from ferrotrack.experiment import Pipeline

class ResilientPipelineFactory(PipelineFactory):
    """
    Pipeline factory that adds automatic retry logic and error recovery.
    """

    @staticmethod
    def create(name: str, config: DictConfig, env: Environment, id: int = None) -> Pipeline:
        env.logger.info(f"üõ°Ô∏è Creating resilient pipeline: {name}")

        # Validate configuration
        if config.pipeline.get("enable_retry", False):
            max_retries = config.pipeline.get("max_retries", 3)
            env.logger.info(f"   Retry enabled: max {max_retries} attempts")

        # Create pipeline with standard logic
        pipeline = PipelineFactory.create(name, config, env, id)

        # Store custom attributes
        pipeline.max_retries = config.pipeline.get("max_retries", 3)
        pipeline.retry_count = 0

        env.logger.info(f"‚úÖ Resilient pipeline created: {name}")
        return pipeline
