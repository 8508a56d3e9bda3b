"""What run backends are installed, and whether each can load (for ``backends list``)."""

from __future__ import annotations

import importlib.metadata as im
from typing import Any

from ferrotrack.core.errors import FerrotrackError
from ferrotrack.core.plugins.execution import load_execution_plugin
from ferrotrack.core.plugins.kinds import PluginType

__all__ = ["describe_backends"]


def describe_backends() -> list[dict[str, Any]]:
    """One row per entry point of ``ferrotrack.run``: name, package, whether it loads (its
    optional library present), the problem if not, and its description."""
    rows = []
    seen: set[str] = set()
    for ep in sorted(im.entry_points(group=PluginType.RUN.group), key=lambda e: e.name):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        row: dict[str, Any] = {
            "name": ep.name,
            "package": ep.dist.metadata["Name"] if ep.dist is not None else ep.module,
            "available": True,
            "problem": None,
            "description": "",
        }
        try:
            cls = load_execution_plugin("run", ep.name)
            doc = (cls.__doc__ or "").strip().splitlines()
            row["description"] = doc[0] if doc else ""
            check = getattr(cls, "check_available", None)
            if callable(check):
                check()
        except (FerrotrackError, ImportError) as exc:
            row["available"] = False
            row["problem"] = str(exc)
        rows.append(row)
    return rows
