"""``LightningFramework``: what a model logs with ``self.log``/``self.log_dict`` also lands in
the active run, with no Lightning logger configured.

Start it with ``ft.start_run(..., frameworks=["lightning"])``. The patch is process-wide and
idempotent, and stop puts back the very functions it found (core's
:class:`~ferrotrack.core.plugins.FrameworkPlugin`). Each call's value is logged at
``trainer.global_step``, as it was passed (not Lightning's epoch reductions); under Fabric,
which has no global step, at the run's next step for the name, as Fabric's loggers get it.

No double logging: while a trainer (or Fabric) has a :class:`FerrotrackLogger` attached, the
capture stays out of its calls, because the logger already records them (after
Lightning's reductions, the values its other loggers see).
"""

from __future__ import annotations

import threading
from typing import Any

from ferrotrack.core.plugins import FrameworkPlugin, PluginMetadata, PluginType
from ferrotrack.core.run import active_run
from ferrotrack.frameworks._support import MetricSources, WarnOnce, as_number, foreign_patch, settle
from ferrotrack.frameworks.lightning import _library

__all__ = ["LOGGER_MARK", "LightningFramework"]

LOGGER_MARK = "_ferrotrack_logger"
"""Class attribute that marks a Lightning logger as ferrotrack's own."""


class LightningFramework(FrameworkPlugin):
    """Captures ``LightningModule.log`` and ``log_dict`` into the active run."""

    def __init__(self) -> None:
        super().__init__()
        self.captured = 0
        self.skipped = 0
        self.warn = WarnOnce(_library.PLUGIN)
        self.sources = MetricSources(_library.PLUGIN, metadata={"via": "self.log"})

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

    def stop(self) -> None:
        """Restores the patches (the last holder) and lets the metric facts handed to the
        worker thread reach the run's ``metrics.json`` before its store closes."""
        super().stop()
        settle()

    # ---- the capture (user's thread) ------------------------------------------------------

    def capture(self, module: Any, name: str, value: Any, logger: bool | None) -> None:
        """Logs one ``self.log`` value to the active run, if it should be captured."""
        trainer = getattr(module, "_trainer", None)
        if trainer is not None:
            if logger is False or trainer.sanity_checking:
                self.skipped += 1
                return
            loggers, step = trainer.loggers, trainer.global_step
        else:
            fabric = getattr(module, "_fabric", None)  # Lightning 2.1+: a module run by Fabric
            if fabric is None or logger is False:  # no Trainer, no Fabric: Lightning dropped it
                self.skipped += 1
                return
            loggers, step = fabric.loggers, None
        for attached in loggers:
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
            run.log(name, number, step)
        except Exception as exc:  # the training loop must not break on our account
            self.warn(
                f"log:{type(exc).__name__}",
                f"self.log({name!r}) could not be recorded: {exc}",
                stacklevel=4,
            )
            return
        self.captured += 1
        sources = self.sources
        if run is not sources.run or name not in sources.names:
            sources.note(run, name)  # once per run and name, written off this thread

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
