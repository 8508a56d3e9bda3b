"""``LightningFramework``: what a model logs with ``self.log``/``self.log_dict`` also lands in
the active run, with no Lightning logger configured.

Start it with ``ft.start_run(..., frameworks=["lightning"])``. The patch is process-wide and
idempotent, and stop puts back the very functions it found (core's
:class:`~ferrotrack.core.plugins.FrameworkPlugin`). Each call's value is logged at
``trainer.global_step``, as it was passed (not Lightning's epoch reductions).

No double logging: while a trainer has a :class:`FerrotrackLogger` attached, the capture
stays out of that trainer's calls, because the logger already records them (after
Lightning's reductions, the values its other loggers see).
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from ferrotrack.core.plugins import FrameworkPlugin, PluginMetadata, PluginType
from ferrotrack.core.run import active_run
from ferrotrack.frameworks._support import WarnOnce, as_number, foreign_patch
from ferrotrack.frameworks.lightning import _library

if TYPE_CHECKING:
    from ferrotrack.core.run import Run

__all__ = ["LOGGER_MARK", "LightningFramework"]

LOGGER_MARK = "_ferrotrack_logger"
"""Class attribute that marks a Lightning logger as ferrotrack's own."""


class LightningFramework(FrameworkPlugin):
    """Captures ``LightningModule.log`` and ``log_dict`` into the active run."""

    _seen: ClassVar[weakref.WeakKeyDictionary[Run, set[str]]] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        super().__init__()
        self.captured = 0
        self.skipped = 0
        self.warn = WarnOnce(_library.PLUGIN)

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """The plugin's facts; its dependency is whichever Lightning is installed."""
        return PluginMetadata(
            name=_library.PLUGIN,
            type=PluginType.FRAMEWORK,
            description="self.log / self.log_dict of a LightningModule into the active run",
            dependencies=[_library.chosen_package() or "lightning"],
            extra=_library.EXTRA,
            capabilities=frozenset({"metrics"}),
        )

    def install(self) -> None:
        """Patches ``LightningModule.log`` and ``log_dict`` (after the version check)."""
        pl = _library.load()
        module_class = pl.LightningModule
        for attribute in ("log", "log_dict"):
            who = foreign_patch(getattr(module_class, attribute), pl)
            if who is not None:
                self.warn(
                    f"foreign:{attribute}",
                    f"LightningModule.{attribute} was already replaced by {who}; "
                    "ferrotrack wraps it and puts it back on stop",
                )
        self.patch(module_class, "log", _log_wrapper(self, module_class.log))
        self.patch(module_class, "log_dict", _log_dict_wrapper(self, module_class.log_dict))

    # ---- the capture (user's thread) ------------------------------------------------------

    def capture(self, module: Any, name: str, value: Any, logger: bool | None) -> None:
        """Logs one ``self.log`` value to the active run, if it should be captured."""
        trainer = getattr(module, "_trainer", None)
        if trainer is None or logger is False or trainer.sanity_checking:
            self.skipped += 1
            return
        for attached in trainer.loggers:
            if getattr(attached, LOGGER_MARK, False):
                return  # the logger records it: see the module docstring
        number = as_number(value)
        if number is None:  # a torchmetrics Metric: Lightning computes it for its loggers
            self.skipped += 1
            return
        run = active_run()
        if run is None:
            self.dropped += 1
            return
        try:
            run.log(name, number, trainer.global_step)
        except Exception as exc:  # the training loop must not break on our account
            self.warn(
                f"log:{type(exc).__name__}",
                f"self.log({name!r}) could not be recorded: {exc}",
                stacklevel=4,
            )
            return
        self.captured += 1
        self._describe(run, name)

    def _describe(self, run: Run, name: str) -> None:
        """Records once per run and name that the metric came from Lightning's ``self.log``."""
        seen = self._seen.get(run)
        if seen is None:
            seen = self._seen.setdefault(run, set())
        if name in seen:
            return
        seen.add(name)
        from ferrotrack.core.plugins.metric_info import record_metric_info

        record_metric_info(
            run.run_dir,
            {name: {"type": "scalar", "source": _library.PLUGIN, "metadata": {"via": "self.log"}}},
        )

    def get_status(self) -> dict[str, Any]:
        """The framework status plus values captured and skipped."""
        return {**super().get_status(), "captured": self.captured, "skipped": self.skipped}


_inside_log_dict = threading.local()


def _log_wrapper(plugin: LightningFramework, original: Any) -> Any:
    def log(self: Any, name: str, value: Any, *args: Any, **kwargs: Any) -> None:
        original(self, name, value, *args, **kwargs)
        if getattr(_inside_log_dict, "depth", 0):
            return  # log_dict's own wrapper captures the whole dict
        logger = kwargs.get("logger", args[1] if len(args) > 1 else None)
        plugin.capture(self, name, value, logger)

    log.__wrapped__ = original  # type: ignore[attr-defined]
    log.__doc__ = original.__doc__
    return log


def _log_dict_wrapper(plugin: LightningFramework, original: Any) -> Any:
    def log_dict(self: Any, dictionary: Any, *args: Any, **kwargs: Any) -> None:
        _inside_log_dict.depth = getattr(_inside_log_dict, "depth", 0) + 1
        try:
            original(self, dictionary, *args, **kwargs)
        finally:
            _inside_log_dict.depth -= 1
        logger = kwargs.get("logger", args[1] if len(args) > 1 else None)
        for key, value in dictionary.items():
            plugin.capture(self, str(key), value, logger)

    log_dict.__wrapped__ = original  # type: ignore[attr-defined]
    log_dict.__doc__ = original.__doc__
    return log_dict
