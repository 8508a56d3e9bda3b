"""Collectors: sample values on a background thread, or gather static facts once.

A sample that raises, or holds a bad item (not a :class:`MetricData`, or a SCALAR/SYSTEM
value that is not a number), is logged once per collector and kind of problem, never every
sample; the bad items never reach the run, the good ones of the same sample do, and
sampling goes on.
"""

from __future__ import annotations

import abc
import logging
import numbers
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from ferrotrack.core.plugins.base import PluginBase, advance_state
from ferrotrack.core.plugins.metric import MetricData, MetricType

__all__ = ["CollectorPlugin", "RunSink", "as_collector", "check_metrics", "dispatch_metrics"]

_log = logging.getLogger("ferrotrack.collectors")

Sink = Callable[[list[MetricData]], object]

_POINT_TYPES = (MetricType.SCALAR, MetricType.SYSTEM)


def check_metrics(items: object) -> tuple[list[MetricData], list[tuple[str, str]]]:
    """The good items of a sample and, for each bad one, ``(problem key, message)``.

    The key names the kind of problem and the metric (``"value:gpu/util"``), so that a
    caller can report each problem once.
    """
    if not isinstance(items, list | tuple):
        kind = type(items).__name__
        return [], [(f"result:{kind}", f"returned {kind}, expected a list of MetricData")]
    good: list[MetricData] = []
    bad: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, MetricData):
            kind = type(item).__name__
            bad.append((f"item:{kind}", f"returned a {kind} item, expected MetricData"))
        elif item.type in _POINT_TYPES and (
            isinstance(item.value, bool) or not isinstance(item.value, numbers.Real)
        ):
            kind = type(item.value).__name__
            bad.append(
                (
                    f"value:{item.name}",
                    f"metric {item.name!r} ({item.type}) has a {kind} value, expected a number",
                )
            )
        else:
            good.append(item)
    return good, bad


class CollectorPlugin(PluginBase):
    """``collect() -> list[MetricData]``, every :attr:`sampling_interval` seconds.

    With an interval of ``None`` the collector gathers static facts once, at :meth:`start`
    (a git commit, a host name): PARAMETER and TEXT metrics become params and tags. A config
    model with an ``interval`` field overrides the class attribute :attr:`interval`. A
    ``collect`` that raises or returns bad items is logged once per kind of problem (see
    :func:`check_metrics`) and counted in :attr:`errors`; sampling goes on.
    """

    interval: float | None = None
    _sink: Sink | None = None
    _thread: threading.Thread | None = None
    samples = 0
    errors = 0

    def __init__(self) -> None:
        super().__init__()
        self._sink: Sink | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.errors = 0
        self._reported: set[str] = set()

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
        """Collects once and hands the good items to the sink."""
        try:
            result: object = self.collect()
        except Exception as exc:  # a collector must never break the run
            self.errors += 1
            self.report_problem(
                f"raised:{type(exc).__name__}", f"raised {type(exc).__name__}: {exc}"
            )
            return
        self.samples += 1
        metrics, bad = check_metrics([] if result is None else result)
        for key, message in bad:
            self.errors += 1
            self.report_problem(key, message)
        if metrics and self._sink is not None:
            try:
                self._sink(metrics)
            except Exception as exc:
                self.errors += 1
                self.report_problem(f"sink:{type(exc).__name__}", f"could not be recorded: {exc}")

    def report_problem(self, key: str, message: str) -> None:
        """Logs a problem (``key`` names its kind) as a warning naming the collector the
        first time it happens; later ones of the same key go to the debug log. Collectors
        call it for what they skip without failing a sample (an unreadable field)."""
        reported = self.__dict__.setdefault("_reported", set())
        if key in reported:
            _log.debug("collector %r %s", self.name, message)
            return
        reported.add(key)
        _log.warning(
            "collector %r %s (reported once; the collector goes on sampling)", self.name, message
        )

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
    """The part of a run that collected metrics go to (``run_dir`` is optional)."""

    def log(
        self, name: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None: ...
    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...
    def log_artifact(self, path: Path | str, name: str | None = None) -> object: ...


def dispatch_metrics(run: RunSink, metrics: list[MetricData]) -> list[tuple[str, str]]:
    """Sends each metric where its type belongs: points to ``log`` (so into the store),
    PARAMETER to ``log_params``, TEXT to ``set_tags``, ARTIFACT to ``log_artifact``.

    What each point is (type, source, metadata) is recorded once per name in the run's
    ``metrics.json`` (:func:`~ferrotrack.core.plugins.metric_info.metric_info`). Bad items
    and points the run refuses are skipped, never stopping the others; they are returned
    as ``(problem key, message)`` for the caller to report.
    """
    good, problems = check_metrics(metrics)
    params: dict[str, Any] = {}
    tags: dict[str, str] = {}
    infos: dict[str, dict[str, Any]] = {}
    for m in good:
        if m.type in _POINT_TYPES:
            try:
                run.log(m.name, float(m.value), step=m.step, timestamp=m.timestamp)
            except Exception as exc:
                problems.append((f"log:{m.name}", f"metric {m.name!r} was refused: {exc}"))
                continue
            infos[m.name] = {
                "type": str(m.type),
                "source": m.source,
                "metadata": dict(m.metadata),
            }
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
    run_dir = getattr(run, "run_dir", None)
    if infos and run_dir is not None:
        from ferrotrack.core.plugins.metric_info import record_metric_info

        record_metric_info(run_dir, infos)
    return problems


class _SampledPlugin(CollectorPlugin):
    """A plugin of kind COLLECTOR with a ``collect()`` that is no :class:`CollectorPlugin`
    (seed 002's ``DockerCollector``), sampled like one: see :func:`as_collector`."""

    _wrapped: Any = None

    @classmethod
    def get_metadata(cls) -> Any:
        return type(cls._wrapped).get_metadata()

    def initialize(self, config: Any = None) -> None:
        self._wrapped.initialize({} if config is None else config)
        advance_state(self._wrapped, "initialized")
        self._state = "initialized"

    @property
    def sampling_interval(self) -> float | None:
        wrapped = self._wrapped
        for attr in ("interval", "_collection_interval", "collection_interval"):
            value = getattr(wrapped, attr, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value) if value > 0 else None
        return None

    def collect(self) -> list[MetricData]:
        result: list[MetricData] = self._wrapped.collect()
        return result

    def start(self) -> None:
        self._wrapped.start()
        advance_state(self._wrapped, "started")
        super().start()

    def stop(self, timeout: float = 5.0) -> None:
        super().stop(timeout)
        self._wrapped.stop()
        advance_state(self._wrapped, "stopped")

    def get_status(self) -> dict[str, Any]:
        return {**super().get_status(), **self._wrapped.get_status()}


def as_collector(plugin: PluginBase) -> CollectorPlugin:
    """``plugin`` as a :class:`CollectorPlugin`: itself if it is one, else a wrapper that
    samples its ``collect()`` every ``interval`` (or ``_collection_interval``) seconds,
    once at start when it has none, and drives its own lifecycle methods."""
    if isinstance(plugin, CollectorPlugin):
        return plugin
    if not callable(getattr(plugin, "collect", None)):
        from ferrotrack.core.errors import InvalidValueError

        raise InvalidValueError(
            f"collector {plugin.name!r} has no collect() method: expected a CollectorPlugin "
            "or a plugin with collect() -> list[MetricData]"
        )
    cls = type(f"Sampled{type(plugin).__name__}", (_SampledPlugin,), {"_wrapped": plugin})
    wrapper: CollectorPlugin = cls()
    if plugin.state != "created":
        wrapper._state = plugin.state
    return wrapper
