"""The feeder: moves the writer's flushed batches to delivery, on a thread of its own.

The writer hands out each flushed batch once (``subscribe`` / ``next_flushed``); a batch
it had to drop (a full queue) leaves a gap that the lane fills from the store.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ferrotrack.core._native import MetricWriter
    from ferrotrack.core.delivery.orchestrator import BatchSink

__all__ = ["Feeder"]


class Feeder:
    """Never on the logging path: the training thread only appends to the writer."""

    def __init__(self, writer: MetricWriter, sink: BatchSink, rank: int) -> None:
        self._writer = writer
        self._sink = sink
        self._rank = rank
        self._closed = threading.Event()
        writer.subscribe()
        self._thread = threading.Thread(target=self._run, name="ferrotrack-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import pyarrow as pa

        while True:
            item = self._writer.next_flushed(0.2)
            if item is None:
                if self._closed.is_set():
                    return
                continue
            first_row, batch = item
            self._sink.submit(self._rank, first_row, pa.record_batch(batch))

    def drain(self) -> None:
        """Waits until every batch flushed before now reached the sink (call once the
        writer is closed: it then has nothing more to hand out)."""
        self._closed.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
