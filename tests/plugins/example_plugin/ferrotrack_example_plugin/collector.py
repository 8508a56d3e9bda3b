"""A collector that counts its own samples."""

from __future__ import annotations

from pydantic import BaseModel

from ferrotrack.core.plugins import (
    CollectorPlugin,
    MetricData,
    MetricType,
    PluginMetadata,
    PluginType,
)


class CounterConfig(BaseModel):
    """``interval`` seconds between samples (0: once, as a static fact)."""

    interval: float = 0.01


class CounterCollector(CollectorPlugin):
    """Emits ``example/count`` = 1, 2, 3... as SYSTEM metrics."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``example_counter``."""
        return PluginMetadata(
            name="example_counter",
            version="0.3.1",
            type=PluginType.COLLECTOR,
            description="Counts samples.",
            config_model=CounterConfig,
        )

    def collect(self) -> list[MetricData]:
        """The next count."""
        self.count += 1
        return [MetricData("example/count", float(self.count), MetricType.SYSTEM, step=self.count)]
