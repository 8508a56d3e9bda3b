"""``YAMLSerializable``: classes registered by the name a config uses for them.

``@YAMLSerializable.register("MyPipeline")`` puts a class in one registry shared by
pipelines, callbacks and trackers; ``get_class(name)`` finds it there, or else in the
entry-point groups ``ferrotrack.experiment.pipelines`` / ``.callbacks`` / ``.trackers`` of
any installed distribution (so a package adds pipelines without an import by the user).
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, ClassVar, TypeVar

from ferrotrack.experiment.errors import UnknownNameError

__all__ = ["ENTRY_POINT_GROUPS", "YAMLSerializable"]

ENTRY_POINT_GROUPS = {
    "pipeline": "ferrotrack.experiment.pipelines",
    "callback": "ferrotrack.experiment.callbacks",
    "tracker": "ferrotrack.experiment.trackers",
}
"""Where other distributions declare the classes that configs may name, by kind."""

T = TypeVar("T", bound=type)


class YAMLSerializable:
    """A class a config can name. Subclasses override ``from_config``; the default calls
    ``cls(config)``. Calling ``__init__`` is optional: it keeps no state."""

    _registry: ClassVar[dict[str, type]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    @classmethod
    def register(cls, name: str) -> Callable[[T], T]:
        """Class decorator: the config name ``name`` now means this class. Registering a
        name again replaces the class (a module reloaded in a notebook)."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"YAMLSerializable.register: expected a non-empty name, got {name!r}")

        def decorate(klass: T) -> T:
            YAMLSerializable._registry[name] = klass
            return klass

        return decorate

    @classmethod
    def get_class(cls, name: str, *, kind: str | None = None, base: type | None = None) -> type:
        """The class registered as ``name`` (a subclass of ``base`` when given).

        ``kind`` (``pipeline``, ``callback``, ``tracker``) narrows the entry-point group
        searched and names the thing in the error; ``UnknownNameError`` lists the known
        names of that kind.
        """
        found = YAMLSerializable._registry.get(name)
        if found is not None and (base is None or issubclass(found, base)):
            return found
        for group in _groups(kind):
            loaded = _from_entry_point(group, name)
            if loaded is not None and (base is None or issubclass(loaded, base)):
                return loaded
        raise UnknownNameError(kind or "class", name, cls.known_names(kind=kind, base=base))

    @classmethod
    def known_names(cls, *, kind: str | None = None, base: type | None = None) -> list[str]:
        """Every name a config may use for ``kind``: registered classes and entry points."""
        names = {
            name
            for name, klass in YAMLSerializable._registry.items()
            if base is None or issubclass(klass, base)
        }
        for group in _groups(kind):
            names.update(entry.name for entry in entry_points(group=group))
        return sorted(names)

    @classmethod
    def from_config(cls, config: Any, *args: Any, **kwargs: Any) -> Any:
        """Builds an instance from its config section (override to read fields)."""
        return cls(config, *args, **kwargs)


def _groups(kind: str | None) -> tuple[str, ...]:
    if kind is None:
        return tuple(ENTRY_POINT_GROUPS.values())
    group = ENTRY_POINT_GROUPS.get(kind)
    return () if group is None else (group,)


_loaded: dict[tuple[str, str], type | None] = {}
"""Classes loaded from entry points, by (group, name). Kept apart from the registry: a
callback's entry point must never replace a tracker the user registered under that name."""


def _from_entry_point(group: str, name: str) -> type | None:
    key = (group, name)
    if key not in _loaded:
        found = None
        for entry in entry_points(group=group, name=name):
            loaded = entry.load()
            if isinstance(loaded, type):
                found = loaded
                break
        _loaded[key] = found
    return _loaded[key]
