"""``TransformersFramework``: every ``Trainer`` created while it is started gets a
:class:`~ferrotrack.frameworks.transformers.FerrotrackCallback` (unless it has one)."""

from __future__ import annotations

from typing import Any

from ferrotrack.core.plugins import FrameworkPlugin, PluginMetadata, PluginType
from ferrotrack.frameworks._support import (
    DISTRIBUTION,
    WarnOnce,
    foreign_patch,
    import_library,
    installed,
    require_version,
    wrapper_like,
)

__all__ = ["MINIMUM", "NAME", "TESTED", "TransformersFramework", "check_version"]

NAME = "transformers"
MINIMUM = "4.40"
TESTED = "5"  # every 5.x; tested here with 5.24


def check_version() -> Any:
    """Transformers imported and its version checked (raises below :data:`MINIMUM`)."""
    library = import_library(NAME, "transformers", "transformers")
    require_version(NAME, library, MINIMUM, TESTED)
    return library


class TransformersFramework(FrameworkPlugin):
    """Patches ``transformers.Trainer.__init__`` so that each new ``Trainer`` (subclasses
    too) gets a :class:`FerrotrackCallback` logging into the run active at each call; the
    callback it adds never starts a run of its own, and what it gets with no active run is
    counted in this plugin's :attr:`dropped`. Restored exactly when the last holder stops;
    Trainers created meanwhile keep their callback."""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(
            name=NAME,
            type=PluginType.FRAMEWORK,
            description="Hugging Face Trainer logs, arguments and final metrics into the run",
            dependencies=["transformers"],
            capabilities=frozenset({"metrics", "params", "events"}),
            extra="transformers",
        )

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """``Trainer`` needs torch and accelerate besides transformers."""
        missing = [m for m in ("torch", "accelerate") if not installed(m)]
        if missing:
            return (
                f"transformers' Trainer needs {' and '.join(missing)}: "
                f"pip install {DISTRIBUTION}[transformers]"
            )
        return None

    def install(self) -> None:
        """Wraps ``Trainer.__init__`` (chaining through a wrapper another tool put there)."""
        library = check_version()
        from ferrotrack.frameworks.transformers.callback import FerrotrackCallback

        trainer = library.Trainer
        current = vars(trainer)["__init__"]
        who = foreign_patch(current, library)
        if who is not None:
            WarnOnce(NAME)(
                "foreign",
                f"transformers.Trainer.__init__ was already replaced by {who}; "
                "adding the callback through it",
                stacklevel=5,
            )
        plugin = self

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            current(self, *args, **kwargs)
            handler = getattr(self, "callback_handler", None)
            callbacks = getattr(handler, "callbacks", ())
            if not any(isinstance(cb, FerrotrackCallback) for cb in callbacks):
                self.add_callback(FerrotrackCallback(start_run=False, counter=plugin))

        self.patch(trainer, "__init__", wrapper_like(__init__, current))
