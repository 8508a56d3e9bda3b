"""Seed 000, "Advanced: Custom Callback Factory": a factory *instance* carrying an injected
service, which it hands to every callback it creates.

The guide's ``MyCallbackFactory.create`` is a ``@staticmethod`` that reads ``self``, so as
written it raises ``NameError: name 'self' is not defined`` on its first call. The smallest
change that makes its documented intent work, and the only one made here: the
``@staticmethod`` line is dropped and ``create`` takes ``self`` first
(``def create(self, name: str, config: DictConfig, env: Environment):``). The registry calls
``create`` on the registered instance, so ``self.external_service`` is the service given to
the constructor. Everything else is the guide's code.

Run: ``python examples/experiment/factories/callback_factory.py``.
"""

# fmt: off
# ruff: noqa: I001, E402
# mypy: disable-error-code="no-untyped-def, override, attr-defined, no-untyped-call"
# mypy: disable-error-code="import-not-found"
from pathlib import Path
from typing import Any

import demo_pipeline  # context: registers FactoryDemoPipeline, the pipeline the config names
from ferrotrack.experiment import Callback, Experiment, FactoryRegistry, FactoryType
from ferrotrack.experiment import YAMLSerializable
from omegaconf import DictConfig
from ferrotrack.experiment import Environment
from ferrotrack.experiment import CallbackFactory

class MyCallbackFactory(CallbackFactory):
    """Custom callback factory with dependency injection."""

    def __init__(self, external_service=None):
        """
        Initialize with optional external dependencies.

        Args:
            external_service: External service to inject into callbacks
        """
        self.external_service = external_service

    def create(self, name: str, config: DictConfig, env: Environment):
        # Get callback from registry
        callback = CallbackFactory.create(name, config, env)

        # Inject dependencies if available
        if hasattr(self, 'external_service') and self.external_service:
            callback.external_service = self.external_service

        return callback

# Usage:
from my_services import NotificationService

service = NotificationService()
callback_factory = MyCallbackFactory(external_service=service)

registry = FactoryRegistry()
registry.register(FactoryType.CALLBACK, callback_factory)


# Context: a callback that uses the injected service, and the experiment that runs it.
@YAMLSerializable.register("RunNotifier")
class RunNotifier(Callback):
    """Sends one notification when a pipeline's run ends, through ``external_service``
    (set by ``MyCallbackFactory``; absent when the default factory built this callback)."""

    def on_end(self, metrics: dict[Any, Any]) -> None:
        service = getattr(self, "external_service", None)
        if service is not None:
            service.notify(f"pipeline finished with {len(metrics)} final metrics")


print(f"pipelines registered: {demo_pipeline.__all__}")
experiment = Experiment.create(
    str(Path(__file__).parent / "configs" / "callbacks"), factory_registry=registry
)
outcome = experiment.run()
print(f"notifications sent: {len(service.sent)}")
