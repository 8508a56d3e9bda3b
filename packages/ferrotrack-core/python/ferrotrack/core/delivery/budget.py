"""The live-delivery budget: how much wall time the lanes of a process may spend
delivering while the run's producer is logging.

A lane's work (routing a batch, reading the store, the backend's own per-point Python)
runs on a thread of the training process: it takes turns with the loop for the GIL and
shares its cores. While a producer is *hot* (a batch was submitted within ``quiet_after``
seconds), every lane drawing on one :class:`Budget` pays the wall time of each item it
starts from one token bucket, which fills at ``share`` seconds per second up to
``share × window`` seconds: together they spend at most ``share`` of wall time delivering
(plus one bucket and the item that overdraws it). A mirror that needs more lags meanwhile
and catches up at full speed once the producer is quiet, at a close (the drain) and in
``ferrotrack sync``, none of which are charged.
"""

from __future__ import annotations

import math
import threading
import time

__all__ = ["Budget", "shared_budget"]


class Budget:
    """One token bucket of delivery time; thread-safe (see the module)."""

    def __init__(self, share: float, window: float = 1.0) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"delivery share must be in (0, 1], got {share}")
        self.share = share
        self.window = window
        self._lock = threading.Lock()
        self._credit = self.capacity
        self._stamp = time.monotonic()
        self._last_submit = -math.inf
        self.spent = 0.0
        """Seconds charged so far (items started while a producer was hot)."""

    @property
    def capacity(self) -> float:
        """The most seconds the bucket holds: the longest burst a hot producer allows."""
        return self.share * self.window

    @property
    def unlimited(self) -> bool:
        """A share of 1: no budget at all."""
        return self.share >= 1.0

    def note_producer(self, now: float) -> None:
        """A producer submitted a batch at ``now`` (``time.monotonic()``): it is hot."""
        with self._lock:
            self._last_submit = max(self._last_submit, now)

    def hot(self, now: float, quiet_after: float) -> bool:
        """Whether a producer submitted within ``quiet_after`` seconds of ``now``."""
        with self._lock:
            return now < self._last_submit + quiet_after

    def admit(self, now: float, quiet_after: float) -> tuple[float, bool]:
        """``(wait, charged)``: seconds before an item may start (0: now), and whether an
        item started now is charged (a producer is hot). A wait ends early when the
        producer goes quiet, so a lane waits at most until then."""
        if self.unlimited:
            return 0.0, False
        with self._lock:
            quiet_at = self._last_submit + quiet_after
            if now >= quiet_at:
                return 0.0, False
            self._refill(now)
            if self._credit >= -1e-9:  # paid back (to rounding)
                return 0.0, True
            return min(-self._credit / self.share, quiet_at - now), False

    def charge(self, seconds: float, now: float) -> None:
        """An item started while hot took ``seconds`` (ended at ``now``): the bucket pays."""
        with self._lock:
            self._refill(now)
            self._credit -= seconds
            self.spent += seconds

    def _refill(self, now: float) -> None:
        if now > self._stamp:
            self._credit = min(self.capacity, self._credit + (now - self._stamp) * self.share)
            self._stamp = now


_SHARED: dict[tuple[float, float], Budget] = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(share: float, window: float = 1.0) -> Budget:
    """The process's budget for ``share``: every lane of the process with the same
    settings draws on it, so their total, not each one's, is bounded."""
    key = (float(share), float(window))
    with _SHARED_LOCK:
        budget = _SHARED.get(key)
        if budget is None:
            budget = _SHARED[key] = Budget(share, window)
        return budget
