"""Framework plugins: capture metrics by patching a library, once per process, and restore it.

Patching is process-wide: a library has one ``Trainer.step`` however many runs or plugin
instances want it captured. So the patches belong to the framework *class*, with a count of
the instances holding them: the first :meth:`FrameworkPlugin.start` installs them, the last
:meth:`FrameworkPlugin.stop` restores exactly what was there, and a captured value goes to
the run active when the patched call happens (:func:`ferrotrack.core.active_run`), never to
a run remembered at patch time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.collector import dispatch_metrics
from ferrotrack.core.plugins.metric import MetricData

__all__ = ["ActiveRunEmitter", "FrameworkPlugin", "emit_to_active_run", "patch_holders"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Patch:
    target: Any
    attribute: str
    original: Any  # _MISSING when the attribute was not the target's own


@dataclass(slots=True)
class _Shared:
    """The patches of one framework class and how many started instances hold them."""

    holders: int = 0
    installing: bool = False
    patches: list[_Patch] = field(default_factory=list)


_lock = threading.RLock()
_shared: dict[type, _Shared] = {}


def patch_holders(cls: type) -> int:
    """How many started instances of framework class ``cls`` hold its patches now."""
    with _lock:
        entry = _shared.get(cls)
        return 0 if entry is None else entry.holders


def emit_to_active_run(metrics: list[MetricData]) -> bool:
    """Sends ``metrics`` to the run active now; ``False`` (dropped) when there is none."""
    import ferrotrack.core as ft

    run = ft.active_run()
    if run is None:
        return False
    dispatch_metrics(run, metrics)
    return True


class ActiveRunEmitter:
    """What seed 002's framework plugins call ``emit_metric`` on (their ``set_experiment``
    argument): each metric goes to the run active at that moment.

    >>> jax_framework.set_experiment(ActiveRunEmitter())   # doctest: +SKIP
    """

    def emit_metric(self, metric: MetricData) -> None:
        """Sends one metric to the active run (dropped when none is active)."""
        emit_to_active_run([metric])


class FrameworkPlugin(PluginBase):
    """Override :meth:`install` and patch there with :meth:`patch`; captured values go to
    :meth:`emit`.

    ``start()`` installs the patches when no other started instance of the same class holds
    them; ``stop()`` releases this instance's hold, and the last release undoes every patch,
    last first. An attribute the target only inherited is deleted again (not set to the
    inherited value), so each target ends exactly as it was found (``is``-identical).
    """

    _holding = False
    dropped = 0

    def __init__(self) -> None:
        super().__init__()
        self._holding = False
        self.dropped = 0

    def install(self) -> None:
        """Patches the library (with :meth:`patch`); called once per process while held."""

    def emit(self, *metrics: MetricData) -> None:
        """Sends captured metrics to the run active now; counted in :attr:`dropped` if none."""
        if metrics and not emit_to_active_run(list(metrics)):
            self.dropped += len(metrics)

    def patch(self, target: Any, attribute: str, replacement: Any) -> Any:
        """Replaces ``target.attribute`` and returns what was there before (maybe inherited).

        Outside :meth:`install`, while another instance of this class holds the patches, the
        patch is already in place: nothing changes and the current value is returned.
        """
        with _lock:
            entry = _shared.setdefault(type(self), _Shared())
            if entry.holders and not entry.installing:
                return getattr(target, attribute, None)
            try:
                own = vars(target)
            except TypeError:
                own = None
            if own is not None:
                original = own.get(attribute, _MISSING)
            else:
                original = getattr(target, attribute, _MISSING)
            previous = getattr(target, attribute, None)
            entry.patches.append(_Patch(target, attribute, original))
            setattr(target, attribute, replacement)
            return previous

    def start(self) -> None:
        """Installs the patches if this is the first holder in the process, then holds them."""
        with _lock:
            if not self._holding:
                entry = _shared.setdefault(type(self), _Shared())
                if entry.holders == 0:
                    entry.installing = True
                    try:
                        self.install()
                    except BaseException:
                        _undo(entry)
                        _shared.pop(type(self), None)
                        raise
                    finally:
                        entry.installing = False
                entry.holders += 1
                self._holding = True
        super().start()

    def restore(self) -> None:
        """Releases this instance's hold; the last holder undoes every patch, last first.

        Patches made outside :meth:`install` (directly in an overridden ``start``) before any
        hold are undone here too.
        """
        with _lock:
            entry = _shared.get(type(self))
            if entry is None:
                return
            if self._holding:
                self._holding = False
                entry.holders -= 1
            if entry.holders <= 0:
                _undo(entry)
                _shared.pop(type(self), None)

    @property
    def patched(self) -> bool:
        """Whether patches of this framework class are in place in the process."""
        with _lock:
            entry = _shared.get(type(self))
            return entry is not None and bool(entry.patches)

    def stop(self) -> None:
        """Releases the patches (see :meth:`restore`), then marks the plugin stopped."""
        self.restore()
        super().stop()

    def get_status(self) -> dict[str, Any]:
        """The status plus patches in place, instances holding them, and dropped values."""
        with _lock:
            entry = _shared.get(type(self))
            patches = len(entry.patches) if entry else 0
            holders = entry.holders if entry else 0
        return {
            **super().get_status(),
            "patches": patches,
            "holders": holders,
            "dropped": self.dropped,
        }


def _undo(entry: _Shared) -> None:
    while entry.patches:
        p = entry.patches.pop()
        if p.original is _MISSING:
            if attribute_is_own(p.target, p.attribute):
                delattr(p.target, p.attribute)
        else:
            setattr(p.target, p.attribute, p.original)


def attribute_is_own(target: Any, attribute: str) -> bool:
    """Whether ``attribute`` lives in ``target``'s own namespace (not only inherited)."""
    try:
        return attribute in vars(target)
    except TypeError:
        return hasattr(target, attribute)
