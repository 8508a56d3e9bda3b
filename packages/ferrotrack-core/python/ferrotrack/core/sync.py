"""Replaying a run from the store into a backend, resuming from its delivery cursor.

Running it twice sends nothing twice: the cursor in ``<run>/sync/<backend>.json`` is the
same one the live orchestrator advances, so ``sync`` also fills the gap a degraded or lagging
backend left during the run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ferrotrack.core.orchestrator import OrchestratorOptions, Route, _Lane
from ferrotrack.core.plugins.backend import BackendPlugin
from ferrotrack.core.plugins.cursor import store_ranks
from ferrotrack.core.plugins.processor import ProcessorPlugin
from ferrotrack.core.store.catalog import find_run
from ferrotrack.core.store.jsonfile import read_json

__all__ = ["SyncReport", "find_run_dir", "sync_run"]


@dataclass(frozen=True)
class SyncReport:
    """What one ``sync`` did."""

    backend: str
    rows_delivered: int
    points_sent: int
    cursor: dict[int, int]
    state: str
    last_error: str | None

    @property
    def ok(self) -> bool:
        """Whether the backend holds every selected point of the run now."""
        return self.state != "degraded"


def find_run_dir(run: str, root: Path) -> Path:
    """A run folder given as a path, a run id, or a unique prefix of one under ``root``."""
    path = Path(run)
    if (path / "run.json").is_file() or (path / "metrics").is_dir():
        return path
    return find_run(run, root).path


def sync_run(
    run_dir: str | Path,
    backend: BackendPlugin,
    *,
    name: str | None = None,
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    processors: Sequence[ProcessorPlugin] = (),
    options: OrchestratorOptions | None = None,
    send_params: bool = True,
) -> SyncReport:
    """Sends the points of ``run_dir`` the backend has not received yet, then params (once)
    and the run's status. ``backend`` must be initialized and started. Failures are retried
    with backoff; after ``max_failures`` in a row the report says ``degraded`` and the cursor
    keeps what was delivered, so the next ``sync`` resumes there."""
    run_dir = Path(run_dir)
    lane = _Lane(
        Route(backend, include, exclude, processors, name),
        run_dir,
        options or OrchestratorOptions(),
        lambda s: s,
    )
    lane.closing = True
    for rank in store_ranks(run_dir):
        lane.high[rank] = 2**62  # "to the end of the store"
    params = read_json(run_dir / "params.json")
    params_call = None
    if send_params and params and not lane.extra.get("params_sent"):
        lane.call("log_params", params)
        params_call = lane.pending[-1]
    meta = read_json(run_dir / "run.json")
    if isinstance(meta, dict) and meta.get("status"):
        lane.call("set_status", str(meta["status"]))
    while True:
        with lane.cond:
            work = lane._next_locked()
            state, wait = lane.state, lane.next_attempt - time.monotonic()
        if work is None:
            if state != "degraded" and wait > 0 and not math.isinf(wait):
                time.sleep(wait)
                continue
            break
        lane._execute(work)
        if work is params_call and lane.failures == 0:
            lane.extra["params_sent"] = True
    lane._finish()
    lane._save(dict(lane.cursor))
    status = lane.status()
    return SyncReport(
        lane.name,
        status["rows_delivered"],
        status["points_sent"],
        status["cursor"],
        status["state"],
        status["last_error"],
    )
