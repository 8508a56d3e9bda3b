"""One metric point as plugins see it: what collectors and frameworks emit, what backends get.

A plain dataclass (not pydantic) because backends may build one per point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["MetricData", "MetricType"]


class MetricType(StrEnum):
    """How a value is meant: a point of a curve, a parameter, a file, a system sample, a text."""

    SCALAR = "scalar"
    PARAMETER = "parameter"
    ARTIFACT = "artifact"
    SYSTEM = "system"
    TEXT = "text"


@dataclass(slots=True)
class MetricData:
    """One value with its context.

    ``timestamp`` is nanoseconds since the epoch (UTC), as in the store; ``None`` means
    "now" to whoever records it. ``value`` is a float for SCALAR and SYSTEM, any JSON value
    for PARAMETER, a path for ARTIFACT and a string for TEXT.

    >>> MetricData("train/loss", 0.5, step=3).type
    <MetricType.SCALAR: 'scalar'>
    """

    name: str
    value: Any
    type: MetricType = MetricType.SCALAR
    step: int | None = None
    timestamp: int | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
