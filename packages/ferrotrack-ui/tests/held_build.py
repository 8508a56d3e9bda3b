"""Holding the runs index's first build after some chunks, for tests of what a request sees
while the store is being read (the API's and the browser's)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ferrotrack.ui.data.runs import RunsIndex

__all__ = ["WAIT", "HeldBuild"]

WAIT = 30.0
"""Seconds any wait of these tests gives up after (a hung build fails the test)."""


class HeldBuild:
    """Runs ``index.refresh()`` on a thread, holding the reader after ``chunks`` reads
    until :meth:`release`; an error raised by ``fail_at`` (a chunk number) instead. Only
    the first build's reads (at generation 0) count and wait: a run's page read beside it
    does not."""

    def __init__(self, index: RunsIndex, *, chunks: int = 1, fail_at: int | None = None) -> None:
        self.index = index
        self.gate = threading.Event()
        self.reads = 0
        self.error: BaseException | None = None
        read: Callable[..., Any] = index._read

        def held_read(changed: Any, gen: int) -> Any:
            if gen != 0:  # the first build reads at generation 0; this is a run's page
                return read(changed, gen)
            self.reads += 1
            if self.reads == fail_at:
                raise OSError("the disk went away")
            if self.reads > chunks:
                assert self.gate.wait(WAIT), "the test never released the build"
            return read(changed, gen)

        index._read = held_read  # type: ignore[method-assign]
        self.thread = threading.Thread(target=self._run, daemon=True)
        """Builds the index when started; a server's own warm-up thread may build instead."""

    def _run(self) -> None:
        try:
            self.index.refresh()
        except BaseException as exc:  # handed to the test
            self.error = exc

    def release(self) -> None:
        """Lets the build go on, and waits for it when this object's thread runs it."""
        self.gate.set()
        if self.thread.ident is not None:
            self.thread.join(WAIT)
            assert not self.thread.is_alive()
