"""``ferrotrack import wandb DIR``: W&B run files (offline runs, or synced ones that kept
their ``.wandb`` file) read back as :class:`~ferrotrack.core.importing.ImportedRun`.

One W&B run (project and run id) is one ferrotrack run, even when it was written in several
files (a resumed offline run): their records are read in start order. What is read:

- params: the run's config (``_wandb`` left out; the ``ferrotrack`` entry a ferrotrack
  mirror wrote gives back the experiment, tags and parent instead);
- tags: ``key:value`` labels as ``{key: value}``, a plain label as ``{label: ""}``, and
  ``wandb.run`` (``project/run id``), ``wandb.group``, ``wandb.job_type``;
- status: ``ferrotrack/status`` in the summary if a mirror wrote it, else the exit record
  (0: finished; nonzero: failed, or killed after a preempting record); no exit record (a
  run still running or crashed): killed;
- every numeric history value as a point, its step the value of the metric's step metric
  in that row (``define_metric(step_metric=...)``, ``ferrotrack/step`` for mirrored runs)
  when that is a whole number, else ``_step``; its time the row's ``_timestamp``.

The source is ``wandb:<project>/<run id>``: the same W&B run is the same ferrotrack run,
wherever its files are, so importing again changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.wandb.backend import EXIT_CODES
from ferrotrack.backends.wandb.config import STEP_METRIC
from ferrotrack.backends.wandb.records import WandbLogError, read_records

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.importing import ImportedRun

__all__ = ["find_files", "read_runs"]

_log = logging.getLogger("ferrotrack.backends.wandb")

_FINAL = frozenset(EXIT_CODES) - {"crashed"}
_ROW_KEYS = frozenset({"_step", "_timestamp", "_runtime"})
_STATUS = "ferrotrack/status"
_EXPERIMENT_BAD = re.compile(r"[/\\=\x00]")


def find_files(directory: Path) -> list[Path]:
    """The ``run-<id>.wandb`` files of the run folders under ``directory`` (itself one,
    a ``wandb`` folder, or any folder above), each once, in path order."""
    seen: dict[Path, Path] = {}
    candidates = [directory] if directory.name.startswith(("offline-run-", "run-")) else []
    for path in [*candidates, *directory.rglob("*")]:
        if not path.is_dir() or not path.name.startswith(("offline-run-", "run-")):
            continue
        for file in sorted(path.glob("run-*.wandb")):
            seen.setdefault(file.resolve(), file)
    return sorted(seen.values())


def read_runs(directory: Path, experiment: str | None = None) -> Iterator[ImportedRun]:
    """Every W&B run under ``directory``, parents (of runs a ferrotrack mirror wrote)
    before their children. ``experiment`` default: the experiment a mirror recorded, else
    the W&B project."""
    files: list[_File] = []
    for path in find_files(Path(directory)):
        try:
            files.append(_read_file(path))
        except (WandbLogError, OSError) as err:
            _log.warning("ferrotrack import wandb: %s is skipped: %s", path, err)
    runs: dict[tuple[str, str], list[_File]] = {}
    for item in files:
        if item.run_id:
            runs.setdefault((item.project, item.run_id), []).append(item)
    merged = [_merge(parts, experiment) for parts in runs.values()]
    yield from _parents_first(merged)


@dataclass
class _History:
    """History items gathered flat while reading (columns are built afterwards)."""

    names: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    """Each item's ``value_json``."""
    rows: list[int] = field(default_factory=list)
    """Each item's row (index into ``steps`` and ``times``)."""
    steps: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    """Each row's ``_timestamp`` in seconds (NaN when it has none)."""


@dataclass
class _File:
    """What one ``.wandb`` file says."""

    path: Path
    run_id: str = ""
    project: str = ""
    name: str = ""
    group: str = ""
    job_type: str = ""
    started: int | None = None
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    runtime: float = 0.0
    preempting: bool = False
    step_metrics: dict[str, str] = field(default_factory=dict)
    """Per metric name or glob (``*`` …), the key of its step metric."""
    points: pa.Table | None = None
    last_time: int | None = None


def _read_file(path: Path) -> _File:
    """One pass over the records: identity, config, summary, exit, and the history's
    items gathered into flat lists (the points are built in columns afterwards)."""
    out = _File(path)
    history = _History()
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row = len(history.steps)
            step, stamp = -1, float("nan")
            for item in record.history.item:
                key = item.key or ".".join(item.nested_key)
                if key in _ROW_KEYS:
                    if key == "_step":
                        step = int(float(item.value_json))
                    elif key == "_timestamp":
                        stamp = float(item.value_json)
                    continue
                if key.startswith("_wandb"):
                    continue
                history.names.append(key)
                history.texts.append(item.value_json)
                history.rows.append(row)
            history.steps.append(step if step >= 0 else int(record.history.step.num))
            history.times.append(stamp)
        elif kind == "run":
            _take_run(out, record.run)
        elif kind == "config":
            _apply(out.config, record.config.update, record.config.remove)
        elif kind == "summary":  # only the status a mirror wrote is used (one per row)
            for item in record.summary.update:
                if (item.key or ".".join(item.nested_key)) == _STATUS:
                    out.summary[_STATUS] = json.loads(item.value_json)
        elif kind == "metric":
            metric = record.metric
            if metric.step_metric and (metric.name or metric.glob_name):
                out.step_metrics[metric.name or "glob:" + metric.glob_name] = metric.step_metric
        elif kind == "exit":
            out.exit_code, out.runtime = int(record.exit.exit_code), float(record.exit.runtime)
        elif kind == "preempting":
            out.preempting = True
    out.points = _points(out, history)
    return out


def _take_run(out: _File, run: Any) -> None:
    out.run_id = run.run_id or out.run_id
    out.project = run.project or out.project
    out.name = run.display_name or out.name
    out.group = run.run_group or out.group
    out.job_type = run.job_type or out.job_type
    if run.HasField("start_time") and out.started is None:
        out.started = run.start_time.seconds * 1_000_000_000 + run.start_time.nanos
    if run.tags or out.started is None:
        out.tags = list(run.tags)
    _apply(out.config, run.config.update, run.config.remove)


def _apply(target: dict[str, Any], updates: Iterable[Any], removes: Iterable[Any]) -> None:
    """W&B config/summary items (``key`` or a ``nested_key`` path) set or removed."""
    for item in updates:
        path = [item.key] if item.key else list(item.nested_key)
        value = json.loads(item.value_json) if item.value_json else None
        node: dict[str, Any] = target
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    for item in removes:
        path = [item.key] if item.key else list(item.nested_key)
        at: Any = target
        for part in path[:-1]:
            at = at.get(part) if isinstance(at.get(part), dict) else {}
        at.pop(path[-1], None)


def _points(out: _File, history: _History) -> pa.Table:
    """The history as columns: numeric values only, each with its step and time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    names, rows, row_steps = history.names, history.rows, history.steps
    values = json.loads("[" + ",".join(history.texts) + "]") if history.texts else []
    numeric = np.fromiter(
        (type(v) is float or type(v) is int for v in values), dtype=bool, count=len(values)
    )
    value = np.array([v if ok else 0.0 for v, ok in zip(values, numeric, strict=True)], float)
    row = np.asarray(rows, dtype=np.int64)
    encoded = pc.dictionary_encode(pa.array(names, pa.string()))
    dictionary: list[str] = encoded.dictionary.to_pylist()
    code = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    step = np.asarray(row_steps, dtype=np.int64)[row] if len(row) else np.zeros(0, np.int64)
    # A metric's own step metric, when its row has a whole number there.
    axis = {n: _step_metric(out.step_metrics, n) for n in dictionary}
    for key in {k for k in axis.values() if k is not None}:
        if key not in dictionary:
            continue
        at = (code == dictionary.index(key)) & numeric
        per_row = np.full(len(row_steps), np.nan)
        per_row[row[at]] = value[at]
        users = np.isin(code, [i for i, n in enumerate(dictionary) if axis[n] == key])
        mine = per_row[row[users]]
        whole = np.isfinite(mine) & (mine == np.round(mine))
        step[np.flatnonzero(users)[whole]] = mine[whole].astype(np.int64)
    keep = numeric & (code != (dictionary.index(STEP_METRIC) if STEP_METRIC in dictionary else -1))
    times = np.asarray(history.times, dtype=np.float64)
    fallback = float(out.started or 0) / 1e9
    times = np.where(np.isfinite(times), times, fallback)
    stamp = np.round(times * 1e9).astype(np.int64)
    if len(stamp):
        out.last_time = int(stamp.max())
    idx = np.flatnonzero(keep)
    return pa.table(
        {
            "name": pa.array(dictionary, pa.string()).take(pa.array(code[idx])),
            "step": pa.array(step[idx], pa.int64()),
            "timestamp": pa.array(stamp[row[idx]] if len(idx) else [], pa.int64()),
            "value": pa.array(value[idx], pa.float64()),
        }
    )


def _step_metric(defined: dict[str, str], name: str) -> str | None:
    """The step metric W&B would plot ``name`` against (exact name first, then globs)."""
    if name in defined:
        return defined[name]
    for key, axis in defined.items():
        if key.startswith("glob:") and fnmatchcase(name, key[5:]) and axis != name:
            return axis
    return None


def _merge(parts: list[_File], experiment: str | None) -> ImportedRun:
    """One W&B run from its files, in start order."""
    import pyarrow as pa

    from ferrotrack.core.importing import ImportedRun

    parts = sorted(parts, key=lambda f: (f.started or 0, str(f.path)))
    last = parts[-1]
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    for part in parts:
        config.update(part.config)
        summary.update(part.summary)
    config.pop("_wandb", None)
    meta = config.get("ferrotrack")
    if isinstance(meta, dict) and "run_id" in meta:
        config.pop("ferrotrack")
    else:
        meta = {}
    tags = _tags(meta, last)
    tables = [p.points for p in parts if p.points is not None and p.points.num_rows]
    points = pa.concat_tables(tables) if tables else None
    starts = [p.started for p in parts if p.started is not None]
    started = min(starts) if starts else None
    ends = [t for p in parts for t in (p.last_time, _exit_time(p)) if t is not None]
    name = last.name or last.run_id
    return ImportedRun(
        source=_source(last.project, last.run_id),
        experiment=experiment or _experiment(meta, last.project),
        name=name,
        points=points,
        params=config,
        tags=tags,
        status=_status(summary, last),
        started=started,
        ended=max(ends) if ends else None,
        parent_source=_source(last.project, str(meta["parent"])) if meta.get("parent") else None,
        tool="wandb",
    )


def _source(project: str, run_id: str) -> str:
    return f"wandb:{project}/{run_id}"


def _exit_time(part: _File) -> int | None:
    """When the file's run ended: its start plus the exit record's runtime, or the file's
    last write when that is later (offline runs record a runtime of 0)."""
    if part.exit_code is None or part.started is None:
        return None
    try:
        written = part.path.stat().st_mtime_ns
    except OSError:
        written = 0
    return max(part.started + round(part.runtime * 1e9), written)


def _experiment(meta: dict[str, Any], project: str) -> str:
    name = str(meta.get("experiment") or project or "wandb")
    return _EXPERIMENT_BAD.sub("-", name).strip(".") or "wandb"


def _tags(meta: dict[str, Any], last: _File) -> dict[str, str]:
    kept = meta.get("tags")
    if isinstance(kept, dict):
        tags = {str(k): str(v) for k, v in kept.items()}
    else:
        tags = {}
        for label in last.tags:
            key, sep, value = label.partition(":")
            tags[key if sep else label] = value if sep else ""
    tags["wandb.run"] = f"{last.project}/{last.run_id}"
    if last.group and last.group != meta.get("parent"):  # a mirror groups runs by parent
        tags["wandb.group"] = last.group
    if last.job_type:
        tags["wandb.job_type"] = last.job_type
    return tags


def _status(summary: dict[str, Any], last: _File) -> str:
    said = summary.get(_STATUS)
    if said in _FINAL:
        return str(said)
    if said == "crashed":
        return "failed"
    if last.exit_code is None:
        return "killed"
    if last.exit_code == 0:
        return "finished"
    return "killed" if last.preempting else "failed"


def _parents_first(runs: list[ImportedRun]) -> Iterator[ImportedRun]:
    """Runs whose parent is among ``runs`` come after it (cycles: in the order left)."""
    pending = list(runs)
    done: set[str] = set()
    here = {r.source for r in runs}
    while pending:
        ready = [r for r in pending if r.parent_source not in here or r.parent_source in done]
        if not ready:
            ready = pending[:1]
        for run in ready:
            pending.remove(run)
            done.add(run.source)
            yield run
