"""The kinds of plugin and the entry-point group each kind is discovered through."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["PluginType"]


class PluginType(StrEnum):
    """What a plugin does; each kind has its own entry-point group (see :attr:`group`)."""

    BACKEND = "backend"
    COLLECTOR = "collector"
    FRAMEWORK = "framework"
    PROCESSOR = "processor"
    RUN = "run"
    POSTPROCESS = "postprocess"
    PIPELINE = "pipeline"

    @property
    def group(self) -> str:
        """The entry-point group, e.g. ``ferrotrack.backends`` for BACKEND."""
        return _GROUPS[self]

    @classmethod
    def from_group(cls, group: str) -> PluginType:
        """The kind discovered through ``group``."""
        for kind, name in _GROUPS.items():
            if name == group:
                return kind
        raise ValueError(f"{group!r} is not a ferrotrack plugin entry-point group")


_GROUPS: dict[PluginType, str] = {
    PluginType.BACKEND: "ferrotrack.backends",
    PluginType.COLLECTOR: "ferrotrack.collectors",
    PluginType.FRAMEWORK: "ferrotrack.frameworks",
    PluginType.PROCESSOR: "ferrotrack.processors",
    PluginType.RUN: "ferrotrack.run",
    PluginType.POSTPROCESS: "ferrotrack.postprocess",
    PluginType.PIPELINE: "ferrotrack.pipeline",
}
