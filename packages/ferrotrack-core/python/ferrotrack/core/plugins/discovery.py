"""Finding plugins through entry points, once per process.

Each entry point is loaded (plugin modules must stay light: heavy libraries are imported in
``initialize``), its metadata read, and its dependencies checked with ``find_spec`` (no
import). A plugin that cannot be imported is kept in the list as unavailable, with a
warning naming its package, so one broken package never hides the others.
"""

from __future__ import annotations

import functools
import importlib.metadata as im
import importlib.util
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ferrotrack.core.errors import PluginWarning
from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.execution import plain_execution_class, plain_execution_metadata
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.metadata import PluginMetadata

__all__ = ["PluginInfo", "PluginWarning", "discover", "inspect_class", "install_hint"]


@dataclass(frozen=True)
class PluginInfo:
    """One plugin as listed by ``ferrotrack plugins list``."""

    name: str
    kind: PluginType
    package: str | None
    version: str | None
    target: str
    plugin_class: type[PluginBase] | None
    metadata: PluginMetadata | None
    reason: str | None = None
    install_hint: str | None = None
    instance: PluginBase | None = None

    @property
    def available(self) -> bool:
        """Whether the plugin can be used now."""
        return self.reason is None

    def row(self) -> dict[str, object]:
        """A JSON-ready row for listings."""
        return {
            "name": self.name,
            "kind": str(self.kind),
            "package": self.package,
            "version": self.version,
            "available": self.available,
            "reason": self.reason,
            "install_hint": self.install_hint,
            "target": self.target,
        }


def install_hint(missing: Iterable[str], *, package: str | None, extra: str | None) -> str:
    """``pip install D[E]`` when the plugin's distribution has an extra for it, else the
    missing top-level modules."""
    if package and extra:
        return f"pip install {package}[{extra}]"
    return "pip install " + " ".join(sorted({m.split(".")[0] for m in missing}))


def _missing_modules(modules: Iterable[str]) -> list[str]:
    missing = []
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


def _extra_for(
    dist: im.Distribution | None, ep_extras: list[str], meta: PluginMetadata | None, name: str
) -> str | None:
    if ep_extras:
        return ep_extras[0]
    if meta is not None and meta.extra:
        return meta.extra
    if dist is None:
        return None
    provided = {e.lower() for e in (dist.metadata.get_all("Provides-Extra") or [])}
    return name if name.lower() in provided else None


def inspect_class(
    cls: object,
    *,
    kind: PluginType | None,
    name: str | None = None,
    package: str | None = None,
    target: str = "",
    dist: im.Distribution | None = None,
    ep_extras: list[str] | None = None,
) -> PluginInfo:
    """The :class:`PluginInfo` of a loaded plugin class (checks type, metadata, dependencies)."""
    label = name or getattr(cls, "__name__", repr(cls))
    if kind is not None and plain_execution_class(cls, kind):
        meta = plain_execution_metadata(cls, kind, str(label))  # seed 003: plain classes
    elif not (isinstance(cls, type) and issubclass(cls, PluginBase)):
        raise TypeError(f"{target or label} is not a PluginBase subclass")
    else:
        meta = cls.get_metadata()
    if not isinstance(meta, PluginMetadata):
        raise TypeError(f"{target or label}: get_metadata() must return PluginMetadata")
    if kind is not None and meta.type != kind:
        raise TypeError(
            f"{target or label} is a {meta.type} plugin but is declared in {kind.group}"
        )
    version = meta.version if meta.version != "0.0.0" or dist is None else dist.version
    info = PluginInfo(name or meta.name, meta.type, package, version, target, cls, meta)  # type: ignore[arg-type]
    missing = _missing_modules(meta.dependencies)
    if missing:
        hint = install_hint(
            missing, package=package, extra=_extra_for(dist, ep_extras or [], meta, info.name)
        )
        info = replace(
            info, reason=f"missing dependencies: {', '.join(missing)}", install_hint=hint
        )
    return info


@functools.cache
def _dist_name(dist: im.Distribution) -> str:
    """The distribution's name; its METADATA is parsed once, not once per entry point."""
    return str(dist.metadata["Name"])


def _load(ep: im.EntryPoint, kind: PluginType) -> PluginInfo:
    dist = ep.dist
    package = _dist_name(dist) if dist is not None else None
    target = ep.value
    try:
        cls = ep.load()
    except ModuleNotFoundError as exc:
        own = ep.module.split(".")[0]
        if exc.name and exc.name.split(".")[0] != own:
            hint = install_hint(
                [exc.name], package=package, extra=_extra_for(dist, list(ep.extras), None, ep.name)
            )
            return PluginInfo(
                ep.name,
                kind,
                package,
                dist.version if dist else None,
                target,
                None,
                None,
                f"missing dependencies: {exc.name}",
                hint,
            )
        return _broken(ep, kind=kind, package=package, dist=dist, exc=exc, what="failed to import")
    except Exception as exc:
        return _broken(ep, kind=kind, package=package, dist=dist, exc=exc, what="failed to import")
    try:
        return inspect_class(
            cls,
            kind=kind,
            name=ep.name,
            package=package,
            target=target,
            dist=dist,
            ep_extras=list(ep.extras),
        )
    except Exception as exc:
        return _broken(ep, kind=kind, package=package, dist=dist, exc=exc, what="invalid plugin")


def _broken(
    ep: im.EntryPoint,
    *,
    kind: PluginType,
    package: str | None,
    dist: im.Distribution | None,
    exc: BaseException,
    what: str,
) -> PluginInfo:
    reason = f"{what}: {type(exc).__name__}: {exc}"
    warnings.warn(
        f"ferrotrack: {kind} plugin {ep.name!r} from package {package or ep.module!r} "
        f"({ep.value}) is disabled, {reason}",
        PluginWarning,
        stacklevel=3,
    )
    return PluginInfo(
        ep.name, kind, package, dist.version if dist else None, ep.value, None, None, reason
    )


def _entry_points() -> list[tuple[PluginType, im.EntryPoint]]:
    """Every ferrotrack entry point of every installed distribution (one scan)."""
    found: list[tuple[PluginType, im.EntryPoint]] = []
    everything = im.entry_points()
    for kind in PluginType:
        found.extend((kind, ep) for ep in everything.select(group=kind.group))
    return found


_lock = threading.Lock()
_cache: dict[tuple[PluginType, str], PluginInfo] | None = None


def discover(*, refresh: bool = False) -> dict[tuple[PluginType, str], PluginInfo]:
    """Installed plugins by ``(kind, name)``; scanned on first call, then cached."""
    global _cache
    with _lock:
        if _cache is not None and not refresh:
            return _cache
        found: dict[tuple[PluginType, str], PluginInfo] = {}
        for kind, ep in _entry_points():
            key = (kind, ep.name)
            if key in found:
                first = found[key]
                if first.target != ep.value:
                    warnings.warn(
                        f"ferrotrack: two {kind} plugins are named {ep.name!r}: "
                        f"{first.target} ({first.package}) is used, {ep.value} "
                        f"({ep.dist.name if ep.dist else '?'}) is ignored",
                        PluginWarning,
                        stacklevel=2,
                    )
                continue
            found[key] = _load(ep, kind)
        _cache = found
        return found
