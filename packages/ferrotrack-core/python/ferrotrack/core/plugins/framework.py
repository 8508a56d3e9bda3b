"""Framework plugins: capture metrics by patching a library, and restore it exactly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.metric import MetricData

__all__ = ["FrameworkPlugin"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Patch:
    target: Any
    attribute: str
    original: Any  # _MISSING when the attribute was not the target's own


class FrameworkPlugin(PluginBase):
    """``start()`` patches with :meth:`patch`; ``stop()`` undoes every patch in reverse.

    An attribute that the target only inherited is deleted again on restore (not set to the
    inherited value), so the target ends exactly as it was found. Captured values go to
    :meth:`emit`, which forwards them to the sink bound by the run.
    """

    def __init__(self) -> None:
        super().__init__()
        self._patches: list[_Patch] = []
        self._sink: Callable[[list[MetricData]], None] | None = None

    def bind(self, sink: Callable[[list[MetricData]], None]) -> None:
        """Where :meth:`emit` sends captured metrics (the run)."""
        self._sink = sink

    def emit(self, *metrics: MetricData) -> None:
        """Sends captured metrics to the bound sink; dropped if none is bound."""
        if self._sink is not None and metrics:
            self._sink(list(metrics))

    def patch(self, target: Any, attribute: str, replacement: Any) -> Any:
        """Replaces ``target.attribute`` and returns what was there before (maybe inherited)."""
        try:
            own = vars(target)
        except TypeError:
            own = None
        if own is not None:
            original = own.get(attribute, _MISSING)
        else:
            original = getattr(target, attribute, _MISSING)
        previous = getattr(target, attribute, None)
        self._patches.append(_Patch(target, attribute, original))
        setattr(target, attribute, replacement)
        return previous

    def restore(self) -> None:
        """Undoes every patch, last first."""
        while self._patches:
            p = self._patches.pop()
            if p.original is _MISSING:
                if attribute_is_own(p.target, p.attribute):
                    delattr(p.target, p.attribute)
            else:
                setattr(p.target, p.attribute, p.original)

    @property
    def patched(self) -> bool:
        """Whether some patch is in place."""
        return bool(self._patches)

    def stop(self) -> None:
        """Restores everything patched, then marks the plugin stopped."""
        self.restore()
        super().stop()

    def get_status(self) -> dict[str, Any]:
        """The status plus the number of patches in place."""
        return {**super().get_status(), "patches": len(self._patches)}


def attribute_is_own(target: Any, attribute: str) -> bool:
    """Whether ``attribute`` lives in ``target``'s own namespace (not only inherited)."""
    try:
        return attribute in vars(target)
    except TypeError:
        return hasattr(target, attribute)
