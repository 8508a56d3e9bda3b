"""Seed 000, troubleshooting: ``TypeError: factory must be an instance of Factory``.

As a script this stops at the wrong line, as the guide says it does; ``run_troubleshooting.py``
runs it one statement at a time, prints the error and goes on to the correct line.
"""

# fmt: off
# ruff: noqa: I001
# mypy: disable-error-code="arg-type, import-not-found"
from ferrotrack.experiment import FactoryRegistry, FactoryType
from my_custom.factories import MyFactory

registry = FactoryRegistry()  # context: the registry the guide's lines register into

# ‚ùå Wrong - passing the class
registry.register(FactoryType.PIPELINE, MyFactory)

# ‚úÖ Correct - passing an instance
registry.register(FactoryType.PIPELINE, MyFactory())
