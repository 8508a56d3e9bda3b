"""Runs brought in from other trackers (TensorBoard, MLflow, W&B): one store layout for all.

Each importer (``ferrotrack.backends.<tool>.importer``) reads the foreign files or server
into :class:`ImportedRun` records with their points as Arrow columns; :func:`import_runs`
writes them as ordinary runs. The run id is derived from the foreign run's identity
(``source``) and start time, so importing again finds the same run and changes nothing;
an import cut short (no ``run.json`` yet, or one not marked complete) is redone.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core import _native
from ferrotrack.core.errors import InvalidArgumentError, RunExistsError
from ferrotrack.core.params import normalize, update_file
from ferrotrack.core.store import layout
from ferrotrack.core.store.jsonfile import read_json, write_json_atomic

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ImportResult", "ImportedRun", "import_runs", "imported_run_id"]

FINAL_STATUSES = ("finished", "failed", "killed")
"""What an imported run may end as (a run still running elsewhere is imported as killed)."""

POINT_COLUMNS = ("name", "step", "timestamp", "value")


@dataclass(frozen=True)
class ImportedRun:
    """One foreign run, as an importer read it.

    ``source`` names the foreign run for good (``"mlflow:<uri>#<run id>"``,
    ``"tensorboard:<folder>"``): the same source is the same ferrotrack run. ``points`` is
    an Arrow table (or any object with ``__arrow_c_stream__``) with columns ``name``
    (string), ``step`` (int64), ``timestamp`` (int64 nanoseconds since the epoch, UTC) and
    ``value`` (float64).
    """

    source: str
    experiment: str
    name: str
    points: Any = None
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str = "finished"
    started: int | None = None
    ended: int | None = None
    parent_source: str | None = None
    tool: str = ""


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_runs` did with one :class:`ImportedRun`."""

    run_id: str
    experiment: str
    run_dir: Path
    created: bool
    points: int
    source: str


def imported_run_id(source: str, started: int | None) -> str:
    """A UUIDv7-shaped id (32 hex digits) from the start time's milliseconds and a hash of
    ``source``: imported runs sort by start among the others, and the same source always
    gets the same id."""
    digest = int.from_bytes(hashlib.sha256(source.encode("utf-8")).digest()[:10], "big")
    ms = max(0, (started or 0) // 1_000_000) & ((1 << 48) - 1)
    counter = (digest >> 62) & 0xFFF
    tail = digest & ((1 << 62) - 1)
    value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | tail
    return f"{value:032x}"


def import_runs(
    runs: Iterable[ImportedRun],
    *,
    root: str | Path | None = None,
    progress: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """Writes each run into the store (``root``: the settings' root by default); a run
    imported before is left as it is. Parents are looked up among the runs of this call
    first, then among runs imported earlier; ``progress`` is called after each run."""
    from ferrotrack.core.settings.lookup import tracking_defaults

    base = tracking_defaults(root=root).root
    known: dict[str, str] = {}
    seen: dict[str, dict[str, str]] = {}  # experiment -> {source: run id} imported before
    results: list[ImportResult] = []
    for run in runs:
        if run.experiment not in seen:
            seen[run.experiment] = _imported_sources(base, run.experiment)
        result = _import_one(run, base, known, seen[run.experiment])
        known[run.source] = result.run_id
        results.append(result)
        if progress is not None:
            progress(result)
    return results


def _import_one(
    run: ImportedRun, base: Path, known: dict[str, str], before: dict[str, str]
) -> ImportResult:
    _check(run)
    # An earlier import of the source keeps its id, even if the reader now derives another
    # start time (a TensorBoard folder that gained an older file).
    rid = before.get(run.source) or imported_run_id(run.source, run.started)
    rdir = layout.run_dir(base, run.experiment, rid)
    meta = read_json(rdir / "run.json")
    done = meta.get("imported") or {}
    if meta and done.get("source") != run.source:
        raise RunExistsError(f"run {rid} in {rdir.parent} is not the import of {run.source}")
    if done.get("complete"):
        return ImportResult(
            rid, run.experiment, rdir, False, int(done.get("points", 0)), run.source
        )
    if rdir.exists():
        shutil.rmtree(rdir)  # an import cut short: start it again
    rdir.mkdir(parents=True)
    points = _write_points(rdir, run.points)
    params = normalize(dict(run.params), f"import of {run.source}: params")
    if params:
        update_file(rdir, params, sync=True)
    parent_source = run.parent_source or ""
    parent = known.get(parent_source) or before.get(parent_source)
    meta = {
        "format_version": _native.FORMAT_VERSION,
        "run_id": rid,
        "name": run.name,
        "experiment": run.experiment,
        "status": run.status,
        "started": run.started,
        "ended": run.ended,
        "parent": parent,
        "tags": {str(k): str(v) for k, v in run.tags.items()},
        "host": None,
        "pid": None,
        "error": None,
        "signal": None,
        "imported": {
            "source": run.source,
            "tool": run.tool,
            "at": time.time_ns(),
            "points": points,
            "complete": True,
        },
    }
    write_json_atomic(rdir / "run.json", meta, sync=True)  # last: marks the import complete
    return ImportResult(rid, run.experiment, rdir, True, points, run.source)


def _check(run: ImportedRun) -> None:
    where = f"import of {run.source!r}"
    if not run.source:
        raise InvalidArgumentError("import: a run needs a non-empty source")
    layout.validate_experiment(run.experiment)
    if run.status not in FINAL_STATUSES:
        raise InvalidArgumentError(
            f"{where}: status {run.status!r}, expected one of {', '.join(FINAL_STATUSES)}"
        )
    for label, value in (("started", run.started), ("ended", run.ended)):
        if value is not None and not isinstance(value, int):
            raise InvalidArgumentError(f"{where}: {label} must be int nanoseconds, got {value!r}")


def _write_points(rdir: Path, points: Any) -> int:
    """Every point through the store's writer, one ``log_array`` call per metric."""
    if points is None:
        return 0
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.table(points)
    missing = [c for c in POINT_COLUMNS if c not in table.column_names]
    if missing:
        raise InvalidArgumentError(
            f"import: points lack the columns {missing}; expected {list(POINT_COLUMNS)}"
        )
    if table.num_rows == 0:
        return 0
    if table.column("name").null_count:
        raise InvalidArgumentError(
            f"import: column 'name' has {table.column('name').null_count} nulls"
        )
    names = pc.dictionary_encode(table.column("name")).combine_chunks()
    order = pc.sort_indices(names.indices)  # stable: each metric keeps its order
    codes = names.indices.take(order).to_numpy(zero_copy_only=False)
    steps = _column(table, "step", pa.int64()).take(order).to_numpy()
    stamps = _column(table, "timestamp", pa.int64()).take(order).to_numpy()
    values = _column(table, "value", pa.float64()).take(order).to_numpy()
    bounds = _run_bounds(codes)
    dictionary = names.dictionary.to_pylist()
    with _native.MetricWriter(rdir, rank=0, background=False, flush_interval=3600.0) as writer:
        for start, end in bounds:
            name = dictionary[int(codes[start])]
            writer.log_array(
                name, values[start:end], steps[start:end], timestamps=stamps[start:end]
            )
    return int(table.num_rows)


def _column(table: pa.Table, name: str, kind: pa.DataType) -> pa.Array:
    import pyarrow.compute as pc

    column = table.column(name).combine_chunks()
    if column.null_count:
        raise InvalidArgumentError(f"import: column {name!r} has {column.null_count} nulls")
    return pc.cast(column, kind)


def _run_bounds(codes: Any) -> list[tuple[int, int]]:
    import numpy as np

    edges = np.flatnonzero(np.diff(codes)) + 1
    starts = [0, *edges.tolist()]
    ends = [*edges.tolist(), len(codes)]
    return list(zip(starts, ends, strict=True))


def _imported_sources(base: Path, experiment: str) -> dict[str, str]:
    """``{source: run id}`` of the runs imported into ``experiment`` before."""
    found: dict[str, str] = {}
    for meta_path in layout.experiment_dir(base, experiment).glob("run=*/run.json"):
        meta = read_json(meta_path)
        source = (meta.get("imported") or {}).get("source")
        if isinstance(source, str):
            found[source] = str(meta.get("run_id"))
    return found
