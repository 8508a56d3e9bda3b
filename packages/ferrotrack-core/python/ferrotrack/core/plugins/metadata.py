"""What a plugin says about itself: name, version, kind, dependencies, config model."""

from __future__ import annotations

import builtins
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ferrotrack.core.plugins.kinds import PluginType

__all__ = ["PluginMetadata"]


class PluginMetadata(BaseModel):
    """Static facts about a plugin, returned by ``PluginBase.get_metadata()``.

    ``dependencies`` are importable module names checked (without importing them) before the
    plugin is used; ``extra`` names the extra of the plugin's distribution that installs them
    (by default the entry point's ``[extra]``, else an extra named like the plugin).
    ``requires`` names plugins that must start before this one and stop after it.

    >>> PluginMetadata(name="jsonl", type=PluginType.BACKEND).version
    '0.0.0'
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    version: str = "0.0.0"
    type: PluginType
    description: str = ""
    author: str = ""
    dependencies: list[str] = Field(default_factory=list)
    capabilities: frozenset[str] = frozenset()
    config_model: builtins.type[BaseModel] | None = None
    extra: str | None = None
    requires: list[str] = Field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready view: the fields plus the config model as JSON Schema."""
        data = self.model_dump(mode="json", exclude={"config_model"})
        data["capabilities"] = sorted(self.capabilities)
        data["config_schema"] = (
            self.config_model.model_json_schema() if self.config_model is not None else None
        )
        return data
