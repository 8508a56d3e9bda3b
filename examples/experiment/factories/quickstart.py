"""Seed 000, "Quick Start" steps 2 and 3: register a custom pipeline factory, pass the
registry to ``Experiment.create``, run.

Run: ``python examples/experiment/factories/quickstart.py`` from any folder. Step 3 reads
its config from ``path/to/config`` (relative to the current folder, as the guide writes
it): the context below copies ``configs/quickstart`` there first.
"""

# fmt: off
# mypy: disable-error-code="import-not-found"
# ruff: noqa: I001
import shutil
from pathlib import Path

import demo_pipeline  # context: registers FactoryDemoPipeline, the pipeline the config names
from ferrotrack.experiment import Experiment
from ferrotrack.experiment import FactoryRegistry, FactoryType
from my_custom.factories import MyCustomPipelineFactory

# Create a registry
registry = FactoryRegistry()

# Register your custom factory
registry.register(FactoryType.PIPELINE, MyCustomPipelineFactory())

# You can also register multiple custom factories
# registry.register(FactoryType.CALLBACK, MyCustomCallbackFactory())
# registry.register(FactoryType.TRACKER, MyCustomTrackerFactory())

# Context: the guide's "path/to/config" is a config dir under the current folder.
shutil.copytree(Path(__file__).parent / "configs" / "quickstart", "path/to/config",
                dirs_exist_ok=True)
print(f"pipelines registered: {demo_pipeline.__all__}")

# Create experiment with custom factories
experiment = Experiment.create(
    config_dir="path/to/config",
    factory_registry=registry
)

# Run as normal - your custom factory will be used automatically
experiment.run()

# Context: what the run left in the store.
print(experiment.results().select("trial", "repeat", "status"))
