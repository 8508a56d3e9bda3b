"""The plugin manager: what is installed, what is wanted, and the lifecycle of what is used."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel

from ferrotrack.core.errors import InvalidArgumentError, InvalidValueError, MissingDependencyError
from ferrotrack.core.plugins.base import PluginBase, advance_state
from ferrotrack.core.plugins.discovery import (
    PluginInfo,
    PluginWarning,
    discover,
    inspect_class,
    loaded_kinds,
)
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.processors import BUILTIN_PROCESSORS

__all__ = ["PluginManager", "PluginSpec"]

PluginSpec = str | PluginBase | type[PluginBase]
"""A plugin named, given as a class, or given as a configured instance."""

# Sinks start first and stop last, so they see everything the sources emit.
_START_RANK = {
    PluginType.BACKEND: 0,
    PluginType.PROCESSOR: 1,
    PluginType.POSTPROCESS: 2,
    PluginType.RUN: 3,
    PluginType.PIPELINE: 4,
    PluginType.COLLECTOR: 5,
    PluginType.FRAMEWORK: 6,
}


class PluginManager:
    """Discovers plugins (entry points + :meth:`register_plugin`), creates and runs them.

    >>> with PluginManager() as pm:                       # doctest: +SKIP
    ...     backend = pm.create("jsonl", PluginType.BACKEND, {"path": "out.jsonl"})
    ...     pm.start_all()

    Starting follows ``requires`` between plugins, then kind (backends first, frameworks
    last); stopping runs in reverse, also when the ``with`` block raises. :meth:`stop_all`
    never blocks on a lock and may be called twice, e.g. from a signal handler.
    """

    def __init__(self, *, use_entry_points: bool = True) -> None:
        self._use_entry_points = use_entry_points
        self._registered: dict[tuple[PluginType, str], PluginInfo] = {}
        for cls in BUILTIN_PROCESSORS:
            info = inspect_class(
                cls,
                kind=PluginType.PROCESSOR,
                package="ferrotrack-core",
                target=f"{cls.__module__}:{cls.__qualname__}",
            )
            self._registered[(info.kind, info.name)] = info
        self._active: list[PluginBase] = []
        self._started: list[PluginBase] = []
        self._failed: dict[str, str] = {}
        self._stop_lock = threading.Lock()

    # ---- what exists -------------------------------------------------------------------

    def register_plugin(self, plugin: PluginSpec, *, name: str | None = None) -> PluginInfo:
        """Makes a plugin class (or a configured instance) known by name, over entry points."""
        if isinstance(plugin, str) or not (
            isinstance(plugin, PluginBase)
            or (isinstance(plugin, type) and issubclass(plugin, PluginBase))
        ):
            raise InvalidValueError(
                f"register_plugin: expected a PluginBase subclass or instance, got {plugin!r}"
            )
        cls = type(plugin) if isinstance(plugin, PluginBase) else plugin
        info = inspect_class(
            cls, kind=None, name=name, package=None, target=f"{cls.__module__}:{cls.__qualname__}"
        )
        if isinstance(plugin, PluginBase):
            info = PluginInfo(**{**info.__dict__, "instance": plugin})
        self._registered[(info.kind, info.name)] = info
        return info

    def plugins(self, kind: PluginType | None = None) -> list[PluginInfo]:
        """Every known plugin (available or not), sorted by kind and name."""
        merged: dict[tuple[PluginType, str], PluginInfo] = {}
        if self._use_entry_points:
            merged.update(discover(kind))  # only the group asked for is imported
        merged.update(self._registered)
        rows = [i for (k, _), i in merged.items() if kind is None or k == kind]
        return sorted(rows, key=lambda i: (list(PluginType).index(i.kind), i.name))

    def info(self, name: str, kind: PluginType | None = None) -> PluginInfo:
        """The plugin called ``name`` (of ``kind``); raises if unknown or ambiguous."""
        matches = [i for i in self.plugins(kind) if i.name == name]
        if len(matches) == 1:
            return matches[0]
        what = f"{kind} plugin" if kind else "plugin"
        if not matches:
            known = ", ".join(sorted(i.name for i in self.plugins(kind))) or "none"
            raise InvalidArgumentError(f"no {what} named {name!r}; known: {known}")
        kinds = ", ".join(str(i.kind) for i in matches)
        raise InvalidArgumentError(f"{what} name {name!r} is ambiguous ({kinds}): give its kind")

    def load(self, name: str, kind: PluginType | None = None) -> type[PluginBase]:
        """The class of an available plugin; :class:`MissingDependencyError` with the install
        hint when its dependencies are missing."""
        info = self.info(name, kind)
        if info.install_hint is not None:
            raise MissingDependencyError(
                f"{info.kind} plugin {info.name!r} needs {info.reason!s}: {info.install_hint}"
            )
        if info.plugin_class is None:
            raise InvalidArgumentError(
                f"{info.kind} plugin {info.name!r} from package {info.package!r} "
                f"is unusable: {info.reason}"
            )
        return info.plugin_class

    # ---- what is used ------------------------------------------------------------------

    def create(
        self,
        spec: PluginSpec,
        kind: PluginType | None = None,
        config: Mapping[str, Any] | BaseModel | None = None,
    ) -> PluginBase:
        """An initialized plugin, managed by this manager; raises on any problem.

        ``spec`` is a name, a class, or an instance (initialized here unless it already is).
        """
        if isinstance(spec, str):
            info = self.info(spec, kind)
            plugin = info.instance if info.instance is not None else self.load(spec, kind)()
        elif isinstance(spec, PluginBase):
            plugin = spec
        elif isinstance(spec, type) and issubclass(spec, PluginBase):
            plugin = spec()
        else:
            raise InvalidValueError(f"expected a plugin name, class or instance, got {spec!r}")
        if kind is not None and plugin.get_metadata().type != kind:
            raise InvalidArgumentError(
                f"{plugin.name!r} is a {plugin.get_metadata().type} plugin, not a {kind}"
            )
        if plugin.state == "created" or config is not None:
            # {} rather than None: seed 002's plugins call ``config.get(...)`` unguarded.
            plugin.initialize({} if config is None else config)
            advance_state(plugin, "initialized")
        self._active.append(plugin)
        return plugin

    def add(
        self,
        spec: PluginSpec,
        kind: PluginType | None = None,
        config: Mapping[str, Any] | BaseModel | None = None,
    ) -> PluginBase | None:
        """Like :meth:`create`, but a plugin whose own ``initialize`` raises is set aside with
        a :class:`PluginWarning` (``None`` returned). Unknown names, missing dependencies and
        invalid configs still raise: they are the caller's to fix."""
        try:
            return self.create(spec, kind, config)
        except (InvalidArgumentError, InvalidValueError, MissingDependencyError):
            raise
        except Exception as exc:
            label = spec if isinstance(spec, str) else getattr(spec, "__name__", repr(spec))
            self._isolate(str(label), "initialize", exc)
            return None

    def _isolate(self, label: str, step: str, exc: BaseException) -> None:
        package = None
        kinds = loaded_kinds() if self._use_entry_points else frozenset()
        known = [i for k in kinds for i in self.plugins(k)] + list(self._registered.values())
        for info in known:  # kinds already loaded only: a failure imports nothing more
            if info.name == label:
                package = info.package
        self._failed[label] = f"{step} failed: {type(exc).__name__}: {exc}"
        warnings.warn(
            f"ferrotrack: plugin {label!r} (package {package or 'unknown'}) is disabled, "
            f"{self._failed[label]}",
            PluginWarning,
            stacklevel=3,
        )

    @property
    def active(self) -> list[PluginBase]:
        """Plugins created by this manager, in creation order."""
        return list(self._active)

    def start_order(self) -> list[PluginBase]:
        """The active plugins in start order: ``requires`` first, then by kind."""
        by_name = {p.name: p for p in self._active}
        ordered: list[PluginBase] = []
        marks: dict[int, str] = {}

        def visit(plugin: PluginBase, path: tuple[str, ...]) -> None:
            mark = marks.get(id(plugin))
            if mark == "done":
                return
            if mark == "open":
                cycle = " -> ".join((*path, plugin.name))
                raise InvalidArgumentError(f"plugins require each other in a cycle: {cycle}")
            marks[id(plugin)] = "open"
            for needed in plugin.get_metadata().requires:
                if needed not in by_name:
                    raise InvalidArgumentError(
                        f"plugin {plugin.name!r} requires plugin {needed!r}, which is not in use"
                    )
                visit(by_name[needed], (*path, plugin.name))
            marks[id(plugin)] = "done"
            ordered.append(plugin)

        for plugin in sorted(self._active, key=lambda p: _START_RANK[p.get_metadata().type]):
            visit(plugin, ())
        return ordered

    def start_all(self) -> list[PluginBase]:
        """Starts every active plugin; one that raises is stopped, set aside with a warning,
        and the others go on. Returns the plugins started."""
        for plugin in self.start_order():
            if plugin in self._started or plugin.name in self._failed:
                continue
            try:
                plugin.start()
                advance_state(plugin, "started")
            except Exception as exc:
                self._isolate(plugin.name, "start", exc)
                self._safe_stop(plugin)
                continue
            self._started.append(plugin)
        return list(self._started)

    def stop_all(self) -> None:
        """Stops started plugins in reverse start order; idempotent and never blocking."""
        if not self._stop_lock.acquire(blocking=False):
            return
        try:
            while self._started:
                self._safe_stop(self._started.pop())
        finally:
            self._stop_lock.release()

    @staticmethod
    def _safe_stop(plugin: PluginBase) -> None:
        try:
            plugin.stop()
            advance_state(plugin, "stopped")
        except Exception as exc:
            warnings.warn(
                f"ferrotrack: plugin {plugin.name!r} failed to stop: {type(exc).__name__}: {exc}",
                PluginWarning,
                stacklevel=3,
            )

    def status(self) -> dict[str, dict[str, Any]]:
        """``get_status()`` of every active plugin, plus the ones set aside."""
        out: dict[str, dict[str, Any]] = {}
        for plugin in self._active:
            try:
                out[plugin.name] = plugin.get_status()
            except Exception as exc:
                out[plugin.name] = {"state": "unknown", "error": f"{type(exc).__name__}: {exc}"}
        for label, reason in self._failed.items():
            out.setdefault(label, {}).update({"state": "failed", "error": reason})
        return out

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()

    def replace(self, plugin: PluginBase, by: PluginBase) -> None:
        """Manages ``by`` in place of ``plugin`` (a wrapper that drives it), same position."""
        self._active[self._active.index(plugin)] = by

    def instances(self, kind: PluginType) -> list[PluginBase]:
        """Active plugins of one kind."""
        return [p for p in self._active if p.get_metadata().type == kind]
