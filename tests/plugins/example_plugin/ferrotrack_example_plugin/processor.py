"""A processor that multiplies every value (vectorised)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ferrotrack.core.plugins import PluginMetadata, PluginType, ProcessorPlugin


class ScaleConfig(BaseModel):
    """The factor."""

    factor: float = 2.0


class ScaleProcessor(ProcessorPlugin):
    """``value * factor`` for every point."""

    config: ScaleConfig

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``example_scale``."""
        return PluginMetadata(
            name="example_scale",
            version="0.3.1",
            type=PluginType.PROCESSOR,
            description="Multiply values.",
            config_model=ScaleConfig,
        )

    def process(self, batch: Any) -> Any:
        """The batch with scaled values."""
        import pyarrow.compute as pc

        index = batch.schema.get_field_index("value")
        scaled = pc.multiply(batch.column("value"), self.config.factor)
        return batch.set_column(index, batch.schema.field(index), scaled)
