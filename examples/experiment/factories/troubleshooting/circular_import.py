"""Seed 000, troubleshooting: circular imports. The factory is imported inside the function
that builds the registry, not when this module is imported."""

# fmt: off
# mypy: disable-error-code="no-untyped-def, import-not-found"
from ferrotrack.experiment import FactoryRegistry, FactoryType


def create_registry():
    # Import here, not at top of file
    from my_custom.factories import MyFactory

    registry = FactoryRegistry()
    registry.register(FactoryType.PIPELINE, MyFactory())
    return registry
