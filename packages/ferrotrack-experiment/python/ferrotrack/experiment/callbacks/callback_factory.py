"""``CallbackFactory``: the callback a config section names (``{type: Name, ...fields}``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from ferrotrack.experiment.callbacks.callback import Callback
from ferrotrack.experiment.factory import Factory
from ferrotrack.experiment.serializable import YAMLSerializable

if TYPE_CHECKING:
    from ferrotrack.experiment.environment import Environment

__all__ = ["CallbackFactory"]


class CallbackFactory(Factory):
    """Builds callbacks by their registered name; an unknown name lists the known ones."""

    @staticmethod
    def create(name: str, config: Any, env: Environment | None = None) -> Callback:
        """``cls.from_config(config, env)`` of the ``Callback`` subclass registered as ``name``."""
        _load_defaults()
        cls = cast(
            "type[Callback]", YAMLSerializable.get_class(name, kind="callback", base=Callback)
        )
        return cls.from_config(config, env)


def _load_defaults() -> None:
    """Registers the built-in callbacks, also when the package is not installed (a source
    tree on ``sys.path`` has no entry points)."""
    from ferrotrack.experiment.callbacks import checkpoint, early_stopping, metrics_tracker

    del checkpoint, early_stopping, metrics_tracker
