"""What a report holds, read through the UI's data layer (the same answers the dashboard
gets from the server), and the file written from it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import InvalidArgumentError

__all__ = [
    "DEFAULT_DETAILED",
    "DEFAULT_POINTS",
    "PAGE",
    "collect_report",
    "decode_times",
    "encode_times",
    "write_report",
]

DEFAULT_POINTS = 1000
"""Points per series in a report (a chart still shows each bucket's extremes)."""
DEFAULT_DETAILED = 200
"""Runs whose page (params, events, charts) a report holds; the table lists every run."""
PAGE = 1000
"""Rows read per runs_page call."""
EXACT = 2**53
"""Integers JavaScript's numbers hold exactly; a time difference beyond is written as text."""


def collect_report(
    root: str | os.PathLike[str] | None = None,
    *,
    experiment: str | None = None,
    runs: Sequence[str] = (),
    title: str | None = None,
    points: int = DEFAULT_POINTS,
    detailed: int = DEFAULT_DETAILED,
) -> dict[str, Any]:
    """The data a report embeds: the rows of the runs named (or of ``experiment``, or of
    the whole store), newest first; the page and every series of the first ``detailed``.
    ``root`` defaults to the settings' store (``FERROTRACK_ROOT``, ``ferrotrack.toml``).

    Raises :class:`ferrotrack.ui.errors.NotFound` for an unknown run or experiment.
    """
    from ferrotrack.core.store.layout import resolve_root
    from ferrotrack.ui.data import RunsQuery, run_detail, runs_page, series
    from ferrotrack.ui.errors import NotFound

    root = resolve_root(root)

    if points < 4:
        raise InvalidArgumentError(f"points={points}: expected at least 4")
    if detailed < 0:
        raise InvalidArgumentError(f"detailed={detailed}: expected 0 or more")
    details: dict[str, Any] = {}
    if runs:
        rows = []
        for run_id in dict.fromkeys(runs):
            detail = run_detail(root, run_id)
            rows.append(detail["run"])
            if len(details) < detailed:
                details[detail["run"]["run_id"]] = detail
    else:
        rows = []
        while True:
            page = runs_page(root, RunsQuery(experiment=experiment, offset=len(rows), limit=PAGE))
            rows += page["runs"]
            if not page["runs"] or len(rows) >= page["total"]:
                break
        if experiment is not None and not rows:
            raise NotFound(f"no experiment {experiment!r} (or it has no runs)")
    for row in rows[:detailed]:
        if row["run_id"] not in details:
            details[row["run_id"]] = run_detail(root, row["run_id"])
    all_series: dict[str, dict[str, Any]] = {}
    for run_id, detail in details.items():
        mine = all_series.setdefault(run_id, {})
        for name in detail["metrics"]:
            try:
                answer = series(root, [run_id], name, points=points, times=True)
            except NotFound:
                continue
            entry = answer["series"][0]
            entry["times"] = encode_times(entry.pop("t"), entry.pop("origin"))
            mine[name] = entry
    return {
        "format": 2,
        "title": title or _title(experiment, runs),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "experiments": {"experiments": _experiments(rows)},
        "runs": rows,
        "columns": _columns(rows),
        "details": details,
        "series": all_series,
    }


def encode_times(times: Sequence[int], origin: int) -> dict[str, Any]:
    """The times (int ns since the epoch) of a series' points as a report embeds them:
    ``{"origin": "<ns>", "d": [first - origin, second - first, ...]}``. Differences take
    7 to 10 digits where whole times take 19, and the page adds them up as BigInt, so its
    wall and relative x are the server's to the last bit. ``origin`` (the run's start) is
    text: a JSON number past 2**53 would lose digits in JavaScript; so is a difference
    beyond that."""
    d: list[int | str] = []
    last = origin
    for t in times:
        step = int(t) - last
        d.append(step if -EXACT <= step <= EXACT else str(step))
        last = int(t)
    return {"origin": str(int(origin)), "d": d}


def decode_times(encoded: dict[str, Any]) -> tuple[list[int], int]:
    """The times and origin :func:`encode_times` wrote (what report_source.js computes)."""
    origin = int(encoded["origin"])
    out = []
    t = origin
    for step in encoded["d"]:
        t += int(step)
        out.append(t)
    return out, origin


def write_report(data: dict[str, Any], output: str | os.PathLike[str]) -> Path:
    """Writes the report's HTML to ``output`` (replaced whole: a reader never sees half a
    file) and returns its path."""
    from ferrotrack.ui.report.bundle import render_report

    path = Path(output)
    html = render_report(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, path)
    return path


def _title(experiment: str | None, runs: Sequence[str]) -> str:
    if runs:
        return f"{len(runs)} run(s)"
    return f"experiment {experiment}" if experiment else "all runs"


def _experiments(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The experiments of the report's rows, counted over those rows only."""
    counts: dict[str, dict[str, Any]] = {}
    for row in rows:
        c = counts.setdefault(
            row["experiment"], {"name": row["experiment"], "runs": 0, "running": 0, "failed": 0}
        )
        c["runs"] += 1
        c["running"] += row["status"] == "running"
        c["failed"] += row["status"] in ("failed", "crashed")
    return [counts[k] for k in sorted(counts)]


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    params: set[str] = set()
    metrics: set[str] = set()
    tags: set[str] = set()
    for row in rows:
        params.update(row["params"])
        metrics.update(row["metrics"])
        tags.update(row["tags"])
    return {"params": sorted(params), "metrics": sorted(metrics), "tags": sorted(tags)}
