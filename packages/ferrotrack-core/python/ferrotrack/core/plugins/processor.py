"""Processors: transform batches of points between sources and backends."""

from __future__ import annotations

import abc
import copy
from typing import TYPE_CHECKING, Self

from ferrotrack.core.plugins.base import PluginBase

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ProcessorPlugin"]


class ProcessorPlugin(PluginBase):
    """``process(batch) -> batch``, vectorised; may drop, rename or change points.

    The orchestrator gives every (backend, rank) stream its own :meth:`clone`, so a
    stateful processor (a downsampler counting points) sees each stream once and in
    order, live or replayed from the store.
    """

    @abc.abstractmethod
    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The transformed batch (same schema)."""

    def clone(self) -> Self:
        """A copy with its own state; override if a deep copy is wrong for the plugin."""
        return copy.deepcopy(self)
