"""Collectors: sample values on a background thread, or gather static facts once."""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.plugins.metric import MetricData, MetricType

__all__ = ["CollectorPlugin", "RunSink", "dispatch_metrics"]

_log = logging.getLogger("ferrotrack.collectors")

Sink = Callable[[list[MetricData]], None]


class CollectorPlugin(PluginBase):
    """``collect() -> list[MetricData]``, every :attr:`sampling_interval` seconds.

    With an interval of ``None`` the collector gathers static facts once, at :meth:`start`
    (a git commit, a host name): PARAMETER and TEXT metrics become params and tags. A config
    model with an ``interval`` field overrides the class attribute :attr:`interval`. A
    ``collect`` that raises is logged and skipped; sampling goes on.
    """

    interval: float | None = None

    def __init__(self) -> None:
        super().__init__()
        self._sink: Sink | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.errors = 0

    @abc.abstractmethod
    def collect(self) -> list[MetricData]:
        """The current values."""

    @property
    def sampling_interval(self) -> float | None:
        """Seconds between samples, or ``None`` for collect-once."""
        configured = getattr(self.config, "interval", self.interval)
        return None if configured is None or configured <= 0 else float(configured)

    def bind(self, sink: Sink) -> None:
        """Where samples go (the run; see :func:`dispatch_metrics`)."""
        self._sink = sink

    def sample(self) -> None:
        """Collects once and hands the result to the sink."""
        try:
            metrics = self.collect()
        except Exception as exc:  # a collector must never break the run
            self.errors += 1
            _log.warning("collector %r failed: %s: %s", self.name, type(exc).__name__, exc)
            return
        self.samples += 1
        if metrics and self._sink is not None:
            self._sink(metrics)

    def start(self) -> None:
        """Collects once (static) or starts the sampling thread."""
        super().start()
        interval = self.sampling_interval
        if interval is None:
            self.sample()
            return
        self._halt.clear()
        self._thread = threading.Thread(
            target=self._loop,
            args=(interval,),
            name=f"ferrotrack-collector-{self.name}",
            daemon=True,
        )
        self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._halt.wait(interval):
            self.sample()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the sampling thread (waiting at most ``timeout`` seconds)."""
        self._halt.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        super().stop()

    def get_status(self) -> dict[str, Any]:
        """The status plus interval, samples taken and errors."""
        return {
            **super().get_status(),
            "interval": self.sampling_interval,
            "samples": self.samples,
            "errors": self.errors,
        }


class RunSink(Protocol):
    """The part of a run that collected metrics go to."""

    def log(
        self, name: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None: ...
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def log_artifact(self, path: Path | str, name: str | None = None) -> object: ...


def dispatch_metrics(run: RunSink, metrics: list[MetricData]) -> None:
    """Sends each metric where its type belongs: points to ``log`` (so into the store),
    PARAMETER to ``log_params``, TEXT to ``set_tags``, ARTIFACT to ``log_artifact``."""
    params: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for m in metrics:
        if m.type in (MetricType.SCALAR, MetricType.SYSTEM):
            run.log(m.name, float(m.value), step=m.step, timestamp=m.timestamp)
        elif m.type is MetricType.PARAMETER:
            params[m.name] = m.value
        elif m.type is MetricType.TEXT:
            tags[m.name] = str(m.value)
        else:
            run.log_artifact(m.value, name=m.name)
    if params:
        run.log_params(params)
    if tags:
        run.set_tags(tags)
