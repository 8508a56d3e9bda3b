#!/usr/bin/env python
"""Run experiment with custom resilient factory."""

import os
from pathlib import Path

from ferrotrack.experiment import Experiment
from ferrotrack.experiment import FactoryRegistry, FactoryType
from my_project.factories.resilient_factory import ResilientPipelineFactory


def main():
    # Configuration directory
    config_dir = Path(__file__).parent / "configs" / "my_experiment"

    # Create custom factory registry
    registry = FactoryRegistry()
    registry.register(FactoryType.PIPELINE, ResilientPipelineFactory())

    # Create and run experiment
    print("üöÄ Starting experiment with custom factory...")
    experiment = Experiment.create(str(config_dir), factory_registry=registry)
    experiment.run()
    print("‚úÖ Experiment completed!")


if __name__ == "__main__":
    main()

# Seed 000, "Complete Working Example", file ``my_project/run_experiment.py``, as written.
# mypy: disable-error-code="no-untyped-def, import-not-found, no-untyped-call"
# ruff: noqa: I001, F401
