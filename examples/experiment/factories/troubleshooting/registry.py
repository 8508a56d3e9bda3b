"""Seed 000, troubleshooting: "Custom factory not being used". The first ``Experiment.create``
gets no registry, so the default factories build everything; the second gets the custom one.
``run_troubleshooting.py`` runs both experiments and says which used the custom factory.
"""

# fmt: off
# mypy: disable-error-code="import-untyped"
from pathlib import Path

from ferrotrack.experiment import Experiment
from troubleshooting.circular_import import create_registry

# Context: the config dir and the registry with the custom pipeline factory.
config_dir = str(Path(__file__).parent.parent / "configs" / "troubleshooting")
registry = create_registry()

# ‚ùå Wrong - using default factories
experiment = Experiment.create(config_dir)

# ‚úÖ Correct - using custom registry
experiment = Experiment.create(config_dir, factory_registry=registry)
