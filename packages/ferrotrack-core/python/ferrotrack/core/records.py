"""What a run is made of besides its points, as readers and plugins see it.

Plain frozen dataclasses (no pydantic, no pyarrow), so the tracking API can build them
without loading anything heavy. :class:`RunInfo` is what a backend learns when it opens;
:class:`RunEvent` is one entry of a run's ordered event log (``docs/format.md``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["EVENT_KINDS", "RunEvent", "RunInfo"]

EVENT_KINDS = frozenset({"level_start", "level_end", "checkpoint", "message", "status"})
"""The kinds ferrotrack itself records; other kinds are allowed (``[a-z][a-z0-9_]*``)."""


@dataclass(frozen=True, slots=True)
class RunInfo:
    """The identity and facts of a run, handed to a backend before anything else.

    ``params`` are the whole params at the time the backend opens (nested, as logged);
    later calls to ``log_params`` arrive as deltas. ``rank`` is the rank of the process that
    delivers (live), or ``None`` when ``ferrotrack sync`` replays every rank.
    """

    experiment: str
    run_id: str
    name: str
    run_dir: Path
    started: int
    """Start time, nanoseconds since the epoch (UTC)."""
    status: str = "running"
    parent: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    rank: int | None = 0
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One timestamped event of a run: a level starting or ending, a checkpoint, a message.

    ``seq`` orders the events of one rank; ``rows`` is how many points that rank had logged
    when the event happened, which is how delivery puts the event after exactly those
    points. ``data`` is any JSON object.
    """

    kind: str
    time: int
    """Nanoseconds since the epoch (UTC)."""
    rank: int = 0
    seq: int = 0
    rows: int = 0
    name: str | None = None
    level: str | None = None
    step: int | None = None
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
