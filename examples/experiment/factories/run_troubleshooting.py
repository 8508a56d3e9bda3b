"""Seed 000, "Troubleshooting": the three cases, each run as the guide writes it.

1. ``troubleshooting/instance.py``: registering the factory *class* raises
   ``TypeError: factory must be an instance of Factory``; the instance is accepted.
2. ``troubleshooting/circular_import.py``: ``create_registry()`` imports the factory when
   called, not at module import.
3. ``troubleshooting/registry.py``: an experiment created without the registry uses the
   default factories; with it, the custom one. Both experiments run here and the custom
   factory's count shows which one used it.

Run: ``python examples/experiment/factories/run_troubleshooting.py``.
"""

# mypy: disable-error-code="import-not-found, import-untyped"
from __future__ import annotations

from pathlib import Path
from typing import Any

import demo_pipeline
from my_custom.factories import MyFactory
from statements import run_statements

from ferrotrack.experiment import FactoryType

HERE = Path(__file__).parent


def case_instance() -> None:
    """The class is refused with a TypeError, the instance registered."""
    print("--- 1. factory must be an instance")
    namespace: dict[str, Any] = {}

    def keep(_source: str, ns: dict[str, Any]) -> None:
        namespace.update(ns)

    (error,) = run_statements(
        HERE / "troubleshooting" / "instance.py", expect=(TypeError,), after=keep
    )
    assert "factory must be an instance of Factory" in str(error)
    factory = namespace["registry"].get(FactoryType.PIPELINE)
    print(f"registered: {type(factory).__name__} instance")


def case_circular_import() -> None:
    """``create_registry`` imports the factory only when it runs."""
    print("--- 2. circular imports: import inside the function")
    from troubleshooting.circular_import import create_registry

    registry = create_registry()
    print(f"registered: {type(registry.get(FactoryType.PIPELINE)).__name__} instance")


def case_registry_not_passed() -> None:
    """Runs each experiment the guide's lines create; only the second uses MyFactory."""
    print("--- 3. custom factory not being used")

    def run_it(source: str, ns: dict[str, Any]) -> None:
        if source.startswith("experiment ="):
            before = MyFactory.created
            ns["experiment"].run()
            print(f"custom factory used for {MyFactory.created - before} pipelines")

    run_statements(HERE / "troubleshooting" / "registry.py", after=run_it)


if __name__ == "__main__":
    print(f"pipelines registered: {demo_pipeline.__all__}")
    case_instance()
    case_circular_import()
    case_registry_not_passed()
