"""Replaying a run from the store into a backend, resuming from its delivery cursor.

:func:`replay` (``ferrotrack sync``) sends what a backend has not received yet, in the
contract's order: ``open_run``, ``set_status("running")`` (if never sent), params and tags
it lacks, then per rank the points and events in the order they happened, artifacts it
lacks, the final status (after the last point), ``flush``. It uses the same cursors as
live delivery, so it also fills the gap a degraded or lagging backend left, and running
it twice sends nothing twice. A rank that a live process holds is left to that process
(its lane delivers it); every other rank is delivered under the rank's lock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ferrotrack.core.delivery.cursor import missing, missing_tags
from ferrotrack.core.delivery.lane import END, Lane, LaneOptions, Route
from ferrotrack.core.delivery.orchestrator import run_info
from ferrotrack.core.delivery.source import idle_rank, store_ranks
from ferrotrack.core.plugins.backend import BackendPlugin
from ferrotrack.core.plugins.processor import ProcessorPlugin
from ferrotrack.core.store.jsonfile import read_json

if TYPE_CHECKING:
    from ferrotrack.core.records import RunEvent

__all__ = ["SyncReport", "find_run_dir", "replay", "sync_run"]

_FINAL = frozenset({"finished", "failed", "killed", "crashed"})


@dataclass(frozen=True)
class SyncReport:
    """What one replay (``sync``) did."""

    backend: str
    rows_delivered: int
    points_sent: int
    cursor: dict[int, int]
    state: str
    last_error: str | None
    rejected: int = 0
    live_ranks: list[int] = field(default_factory=list)
    """Ranks left alone because a live process holds them (it delivers them itself)."""

    @property
    def ok(self) -> bool:
        """Whether the backend holds every selected point of the ranks replayed now."""
        return self.state != "degraded"


def find_run_dir(run: str, root: Path) -> Path:
    """A run folder given as a path, a run id, or a unique prefix of one under ``root``."""
    from ferrotrack.core.store.catalog import find_run

    path = Path(run)
    if (path / "run.json").is_file() or (path / "metrics").is_dir():
        return path
    return find_run(run, root).path


def replay(
    run_dir: str | Path,
    backend: BackendPlugin,
    *,
    name: str | None = None,
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    processors: Sequence[ProcessorPlugin] = (),
    options: LaneOptions | None = None,
    ranks: Collection[int] | None = None,
    send_params: bool = True,
    timeout: float | None = None,
    redact: Callable[[str], str] | None = None,
) -> SyncReport:
    """Sends ``backend`` (initialized and started) what it lacks of ``run_dir``.

    ``redact`` cleans error texts before they are logged or kept in ``state.json`` (the
    settings' ``redact``, so that no secret reaches a file).

    ``ranks`` limits the ranks replayed (default: every rank no live process holds).
    Failures are retried with backoff; after ``max_failures`` in a row the report says
    ``degraded`` and the cursors keep what was delivered, so the next replay resumes there.
    """
    from ferrotrack.core.store.catalog import effective_status

    run_dir = Path(run_dir)
    opts = options or LaneOptions()
    deadline = time.monotonic() + (math.inf if timeout is None else timeout)
    lane = Lane(
        Route(backend, include, exclude, processors, name),
        run_dir,
        opts,
        info=run_info(run_dir, rank=None),
        redact=redact or (lambda text: text),
    )
    lane.drain(max(0.0, deadline - time.monotonic()))  # open_run: it may take params, tags
    done = lane.delivered()
    meta = read_json(run_dir / "run.json")
    status = effective_status(meta) if meta else None
    sent_status = done.get("status")
    if lane.state == "degraded":
        return _report(lane, [])
    if status is not None and sent_status is None:
        lane.call("set_status", "running", needs={}, delivered={"status": "running"})
    params = missing(read_json(run_dir / "params.json"), done.get("params", {}))
    if send_params and params:
        lane.call("log_params", params, needs={}, delivered={"params": params})
    whole_tags = {str(k): str(v) for k, v in meta.get("tags", {}).items()}
    tags = missing_tags(whole_tags, done.get("tags", {}))
    if tags:
        lane.call("set_tags", tags, needs={}, delivered={"tags": tags})
    events = _events_by_rank(run_dir)
    wanted = set(store_ranks(run_dir)) | set(events)
    live: list[int] = []
    for rank in sorted(wanted if ranks is None else wanted & set(ranks)):
        with idle_rank(run_dir, rank) as free:
            if not free:
                live.append(rank)
                continue
            seen = lane.position(rank).events
            for event in events.get(rank, []):
                if event.seq >= seen:
                    lane.call("log_event", event, needs={rank: event.rows})
            lane.expect({rank: END})
            lane.drain(max(0.0, deadline - time.monotonic()))
    if lane.state != "degraded":
        _queue_artifacts(lane, run_dir, done.get("artifacts", []))
        if status in _FINAL and sent_status != status and not live:
            lane.call("set_status", status, needs={}, delivered={"status": status})
        lane.drain(max(0.0, deadline - time.monotonic()))
        lane.finish()
    return _report(lane, live)


def _report(lane: Lane, live: list[int]) -> SyncReport:
    report = lane.status()
    return SyncReport(
        lane.name,
        report["rows_delivered"],
        report["points_sent"],
        report["cursor"],
        report["state"],
        report["last_error"],
        report["rejected"],
        live,
    )


sync_run = replay
"""The name ``ferrotrack sync`` and ``ferrotrack.core.sync_run`` know :func:`replay` by."""


def _events_by_rank(run_dir: Path) -> dict[int, list[RunEvent]]:
    """The run's events per rank, in order (none when the run has no event log)."""
    try:
        from ferrotrack.core.store.events import read_events
    except ImportError:
        return {}
    out: dict[int, list[RunEvent]] = {}
    for event in read_events(run_dir):
        out.setdefault(int(event.rank), []).append(event)
    for items in out.values():
        items.sort(key=lambda e: e.seq)
    return out


def _queue_artifacts(lane: Lane, run_dir: Path, sent: Sequence[str]) -> None:
    """Artifacts in ``artifacts/`` (top-level names) the backend never got."""
    folder = run_dir / "artifacts"
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if path.name not in sent and not path.name.startswith("."):
            lane.call(
                "log_artifact", path, path.name, needs={}, delivered={"artifacts": [path.name]}
            )
