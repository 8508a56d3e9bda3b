"""A run's page (params, events, metrics, artifacts, logs, problems), compare, parallel."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import StoreCorruptError
from ferrotrack.core.store.events import read_events
from ferrotrack.core.store.jsonfile import read_json
from ferrotrack.ui.data._json import iso, jsonable
from ferrotrack.ui.data.locate import locate_run
from ferrotrack.ui.data.runs import index_for
from ferrotrack.ui.data.segments import segment_problems
from ferrotrack.ui.errors import NotFound

__all__ = ["artifact_kind", "compare", "list_artifacts", "parallel", "run_detail"]

_TEXT = frozenset({".txt", ".log", ".md", ".json", ".yaml", ".yml", ".toml", ".py", ".cfg",
                   ".ini", ".sh", ".html", ".xml", ".rst"})  # fmt: skip
_IMAGE = frozenset([".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp"])
_TABLE = frozenset((".csv", ".tsv", ".parquet"))
LOG_STREAMS = ("stdout", "stderr")


def artifact_kind(path: str) -> str:
    """``text``, ``image``, ``table`` or ``binary``, from the file's extension."""
    ext = os.path.splitext(path)[1].lower()
    if ext in _TEXT:
        return "text"
    if ext in _IMAGE:
        return "image"
    if ext in _TABLE:
        return "table"
    return "binary"


def list_artifacts(folder: str) -> list[dict[str, Any]]:
    """Every regular file under ``artifacts/`` (symlinks are not followed), sorted by path."""
    base = os.path.join(folder, "artifacts")
    out: list[dict[str, Any]] = []
    for here, dirs, files in os.walk(base, followlinks=False):
        dirs.sort()
        for f in files:
            full = os.path.join(here, f)
            if os.path.islink(full):
                continue
            rel = os.path.relpath(full, base).replace(os.sep, "/")
            out.append({"path": rel, "size": os.path.getsize(full), "kind": artifact_kind(rel)})
    return sorted(out, key=lambda a: a["path"])


def _rows(root: str | os.PathLike[str], run_ids: list[str]) -> list[dict[str, Any]]:
    """The index's rows of these runs, in order, each read again if it changed (only
    these runs: a run's page polled every second must not stat the whole store)."""
    refs = [locate_run(root, r) for r in run_ids]
    return [e.row for e in index_for(root).entries_of(refs)]


def _regular(path: str) -> bool:
    """A regular file, not a symlink (the log route does not follow one either)."""
    return os.path.isfile(path) and not os.path.islink(path)


def _json_or_problem(folder: str, name: str, problems: list[str]) -> dict[str, Any]:
    """A run's JSON file; a corrupt one is ``{}`` and a problem (named inside the run)."""
    try:
        return read_json(Path(folder) / name)
    except StoreCorruptError as exc:
        problems.append(str(exc).replace(str(Path(folder)) + os.sep, ""))
        return {}


def run_detail(root: str | os.PathLike[str], run_id: str) -> dict[str, Any]:
    """Everything the run page shows; a corrupt file (a JSON file, an event line, a
    segment's footer or its data pages) is listed in ``problems``."""
    from ferrotrack.core._native import verify_run

    ref = locate_run(root, run_id)
    problems: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [row] = _rows(root, [ref.run_id])
        meta = _json_or_problem(ref.folder, "run.json", problems)
        params = _json_or_problem(ref.folder, "params.json", problems)
        events = [
            {"time": iso(e.time), "kind": e.kind, "level": e.level, "name": e.name,
             "step": e.step, "message": e.message, "data": jsonable(e.data)}
            for e in read_events(ref.folder)
        ]  # fmt: skip
    problems += [str(w.message) for w in caught]
    problems += [f"{os.path.relpath(p, ref.folder)}: {what}" for p, what in verify_run(ref.folder)]
    try:  # footers that read over data pages that do not: verify_run checks footers only
        problems += segment_problems(ref.folder)
    except StoreCorruptError as exc:
        problems.append(str(exc).replace(str(Path(ref.folder)) + os.sep, ""))
    error = meta.get("error") if isinstance(meta.get("error"), dict) else {}
    logs = [s for s in LOG_STREAMS if _regular(os.path.join(ref.folder, "logs", f"{s}.txt"))]
    return {
        "run": row,
        "params": jsonable(params),
        "error": row["error"],
        "traceback": error.get("traceback") if error else None,
        "events": events,
        "metrics": sorted(row["metrics"]),
        "artifacts": list_artifacts(ref.folder),
        "logs": logs,
        "problems": problems,
    }


def compare(root: str | os.PathLike[str], run_ids: list[str]) -> dict[str, Any]:
    """Rows of the runs, each param's value per run, and the params whose values differ."""
    rows = _rows(root, run_ids)
    keys = sorted({k for row in rows for k in row["params"]})
    params = {k: [row["params"].get(k) for row in rows] for k in keys}
    differing = [k for k, values in params.items() if any(v != values[0] for v in values)]
    return {"runs": rows, "params": params, "differing": differing}


def parallel(
    root: str | os.PathLike[str], experiment: str, metric: str, agg: str = "last"
) -> dict[str, Any]:
    """Params against ``metric`` (its ``agg``: last, min or max) for each run of an
    experiment that logged it: the data of a parallel-coordinates view."""
    if agg not in ("last", "min", "max"):
        raise NotFound(f"agg {agg!r}: expected last, min or max")
    rows = [e.row for e in index_for(root).refresh() if e.row["experiment"] == experiment]
    if not rows:
        raise NotFound(f"no experiment {experiment!r}")
    having = [r for r in rows if metric in r["metrics"]]
    if not having:
        raise NotFound(f"no run of experiment {experiment!r} logged metric {metric!r}")
    keys = sorted({k for r in having for k in r["params"]})
    return {
        "params": keys,
        "rows": [
            {"run_id": r["run_id"], "params": r["params"], "value": r["metrics"][metric][agg]}
            for r in having
        ],
    }
