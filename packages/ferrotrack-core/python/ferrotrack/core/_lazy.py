"""Names a package exports but imports on first use, so importing it stays cheap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(
    namespace: dict[str, Any],
    table: Mapping[str, str] | None = None,
    *,
    distribution: str | None = None,
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``name`` from the module ``table[name]`` and
    keeps it in ``namespace`` (the module's globals), so the import happens once.

    With ``distribution``, ``__version__`` is that distribution's installed version, read
    on first use so that importing the package never pays for ``importlib.metadata``.
    """
    package = namespace["__name__"]
    names = table or {}

    def __getattr__(name: str) -> Any:
        if name == "__version__" and distribution is not None:
            value: Any = _version(distribution)
        else:
            module = names.get(name)
            if module is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "0+unknown"
