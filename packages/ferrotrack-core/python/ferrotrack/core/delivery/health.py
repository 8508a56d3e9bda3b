"""How each mirror of a run stands, read from the run's folder by any process.

Lanes record their verdict in ``sync/<backend>/state.json`` (``delivered["health"]``) and
their positions in the rank files; comparing those with the store's own row counts tells
``ferrotrack runs show`` which mirrors are complete, behind, or degraded, without asking
the process that delivers them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ferrotrack.core.delivery.cursor import DeliveryCursor
from ferrotrack.core.delivery.source import store_ranks, store_rows
from ferrotrack.core.store.jsonfile import read_json

__all__ = ["backend_health"]


def backend_health(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Per backend that ever mirrored the run: ``state`` (``ok``, ``behind``: fewer
    points delivered than stored, ``degraded``: it gave up until a ``ferrotrack sync``),
    ``rows`` delivered, ``total`` stored, the last ``error`` (redacted) and the status it
    was last sent."""
    sync = Path(run_dir) / "sync"
    if not sync.is_dir():
        return {}
    totals = {rank: store_rows(run_dir, rank) or 0 for rank in store_ranks(run_dir)}
    total = sum(totals.values())
    out: dict[str, dict[str, Any]] = {}
    for folder in sorted(p for p in sync.iterdir() if p.is_dir()):
        name = str(read_json(folder / "state.json").get("backend") or folder.name)
        cursor = DeliveryCursor(run_dir, name)
        delivered = cursor.load_shared().delivered
        rows = sum(min(p.rows, totals.get(r, p.rows)) for r, p in cursor.ranks().items())
        verdicts = _verdicts(delivered.get("health") or {})
        degraded = [v for v in verdicts if v.get("state") == "degraded"]
        state = "degraded" if degraded else "ok"
        if state == "ok" and rows < total:
            state = "behind"
        error = next((v.get("error") for v in degraded if v.get("error")), None)
        out[name] = {
            "state": state,
            "rows": rows,
            "total": total,
            "error": error,
            "status_sent": delivered.get("status"),
        }
    return out


def _verdicts(health: dict[str, Any]) -> list[dict[str, Any]]:
    """The lanes' verdicts: one per rank (``rank-<r>``) or one for a sync (``*``); a file
    of the first format holds a single verdict."""
    if "state" in health:
        return [health]
    return [v for v in health.values() if isinstance(v, dict)]
