"""Delivery: a run's data mirrored to backends, live and by replay, exactly once.

- :mod:`.orchestrator`: :class:`Orchestrator` fans a run out to one lane per backend;
- :mod:`.lane`: :class:`Lane`, delivery to one backend in the contract's order;
- :mod:`.budget`: :class:`Budget`, the share of wall time live lanes may take from the loop;
- :mod:`.cursor`: :class:`DeliveryCursor`, per-rank positions and the backend's state;
- :mod:`.source`: ranged reads of the store, ranks, who is live;
- :mod:`.replay`: ``replay.replay()`` (also ``sync_run``, what ``ferrotrack sync`` calls),
  from the store and the cursors;
- :mod:`.feeder`: :class:`Feeder`, the writer's flushed batches to the orchestrator;
- :mod:`.session`: :class:`PluginSession`, the plugins of one run.

Nothing here is imported by ``import ferrotrack.core``; names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.core.delivery.budget import Budget
    from ferrotrack.core.delivery.cursor import DeliveryCursor
    from ferrotrack.core.delivery.feeder import Feeder
    from ferrotrack.core.delivery.lane import Lane, LaneOptions, Route
    from ferrotrack.core.delivery.orchestrator import (
        BatchSink,
        Orchestrator,
        OrchestratorOptions,
        run_info,
    )
    from ferrotrack.core.delivery.replay import SyncReport, find_run_dir, sync_run
    from ferrotrack.core.delivery.session import PluginSession

_LAZY = {
    "Budget": "budget",
    "BatchSink": "orchestrator",
    "DeliveryCursor": "cursor",
    "Feeder": "feeder",
    "Lane": "lane",
    "LaneOptions": "lane",
    "Orchestrator": "orchestrator",
    "OrchestratorOptions": "orchestrator",
    "PluginSession": "session",
    "Route": "lane",
    "SyncReport": "replay",
    "find_run_dir": "replay",
    "run_info": "orchestrator",
    "sync_run": "replay",
}

__all__ = [
    "BatchSink",
    "Budget",
    "DeliveryCursor",
    "Feeder",
    "Lane",
    "LaneOptions",
    "Orchestrator",
    "OrchestratorOptions",
    "PluginSession",
    "Route",
    "SyncReport",
    "find_run_dir",
    "run_info",
    "sync_run",
]


__getattr__ = lazy_getattr(globals(), {k: f"{__name__}.{v}" for k, v in _LAZY.items()})
