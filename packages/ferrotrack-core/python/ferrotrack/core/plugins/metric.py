"""One metric point as plugins see it: what collectors and frameworks emit, what backends get.

A plain slotted class (not pydantic) because backends may build one per point. Seed 002's
spelling works too: ``iteration`` is an alias of ``step`` (constructor keyword and
attribute), and a float ``timestamp`` is read as seconds (``time.time()``).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["MetricData", "MetricSource", "MetricType"]


class MetricType(StrEnum):
    """How a value is meant: a point of a curve, a parameter, a file, a system sample, a text."""

    SCALAR = "scalar"
    PARAMETER = "parameter"
    ARTIFACT = "artifact"
    SYSTEM = "system"
    TEXT = "text"


@dataclass(slots=True, init=False)
class MetricData:
    """One value with its context.

    ``timestamp`` is nanoseconds since the epoch (UTC), as in the store; a float is taken
    as seconds (what ``time.time()`` gives) and converted. ``None`` means "now" to whoever
    records it. ``value`` is a float for SCALAR and SYSTEM, any JSON value for PARAMETER, a
    path for ARTIFACT and a string for TEXT. ``iteration`` is another name for ``step``.

    >>> MetricData("train/loss", 0.5, step=3).type
    <MetricType.SCALAR: 'scalar'>
    >>> MetricData("acc", 0.9, MetricType.SCALAR, iteration=100).step
    100
    """

    name: str
    value: Any
    type: MetricType
    step: int | None
    timestamp: int | None
    source: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __init__(  # noqa: PLR0917  (seed 002 passes name, value, type positionally)
        self,
        name: str,
        value: Any,
        type: MetricType = MetricType.SCALAR,
        step: int | None = None,
        timestamp: int | float | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        *,
        iteration: int | None = None,
    ) -> None:
        if iteration is not None:
            if step is not None and step != iteration:
                from ferrotrack.core.errors import InvalidArgumentError

                raise InvalidArgumentError(
                    f"MetricData {name!r}: step={step} and iteration={iteration} differ; "
                    "iteration is another name for step, give one"
                )
            step = iteration
        self.name = name
        self.value = value
        self.type = type
        self.step = step
        self.timestamp = int(timestamp * 1e9) if isinstance(timestamp, float) else timestamp
        self.source = source
        self.metadata = {} if metadata is None else metadata

    @property
    def iteration(self) -> int | None:
        """Seed 002's name for :attr:`step`."""
        return self.step

    @iteration.setter
    def iteration(self, value: int | None) -> None:
        self.step = value


class MetricSource(abc.ABC):
    """Something that emits metrics (seed 002's mixin for frameworks and collectors).

    ferrotrack does not need it: a :class:`~ferrotrack.core.plugins.FrameworkPlugin` emits
    through :meth:`~ferrotrack.core.plugins.FrameworkPlugin.emit`. It exists so that seed
    002's ``class JAXFramework(PluginBase, MetricSource)`` runs as written; such a plugin
    gets an object with ``emit_metric(metric)`` through its ``set_experiment``
    (:class:`~ferrotrack.core.plugins.ActiveRunEmitter`).
    """

    @abc.abstractmethod
    def get_source_id(self) -> str:
        """The name recorded as the metrics' ``source``."""

    @abc.abstractmethod
    def emit_metric(self, metric: MetricData) -> None:
        """Sends one metric on its way to the run."""
