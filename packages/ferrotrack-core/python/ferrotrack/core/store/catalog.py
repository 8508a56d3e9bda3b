"""The read side of the store: which runs exist, what their ``run.json`` says, their status.

Everything here follows ``docs/format.md``. Nothing imports polars at module level, so this
module stays cheap for the tracking API; the few functions that need it import it inside.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.errors import InvalidArgumentError, RunNotFoundError
from ferrotrack.core.params import flatten
from ferrotrack.core.store.jsonfile import read_json, read_json_objects, write_json_atomic
from ferrotrack.core.store.layout import resolve_root, validate_experiment
from ferrotrack.core.store.process import is_alive

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "STATUSES",
    "RunRecord",
    "RunRef",
    "SegmentName",
    "combine_summaries",
    "effective_status",
    "find_run",
    "flatten",
    "heartbeat_is_stale",
    "iter_run_refs",
    "list_runs",
    "live_segments",
    "read_json",
    "summary_paths",
    "summary_schema",
    "write_json_atomic",
]

STATUSES = ("running", "finished", "failed", "killed", "crashed")
"""Every status a reader reports (``crashed`` is never written by a writer)."""

_EXPERIMENT_PREFIX = "experiment="
_RUN_PREFIX = "run="
HEARTBEAT_MIN_S = 10.0
HEARTBEAT_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class RunRef:
    """Where one run lives: its experiment, its id, its folder.

    The folder is kept as text: a ``Path`` costs about 10 µs to build on CPython 3.11,
    and listing a store builds thousands of references.
    """

    experiment: str
    run_id: str
    folder: str

    @property
    def path(self) -> Path:
        """The run folder."""
        return Path(self.folder)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A run with its ``run.json`` and the status a reader reports for it."""

    ref: RunRef
    meta: Mapping[str, Any] = field(default_factory=dict)
    status: str = "running"


@dataclass(frozen=True, slots=True, order=True)
class SegmentName:
    """The identity of a segment: its rank and the flushes ``lo..=hi`` it holds."""

    rank: int
    lo: int
    hi: int


def live_segments(
    run_path: str | os.PathLike[str],
) -> tuple[list[tuple[SegmentName, Path]], list[Path]]:
    """``(live, covered)`` segments of a run, decided from file names alone by the store.

    Live segments come sorted by rank then sequence: reading them in that order gives every
    point once, in logged order per rank (the compaction rule of ``docs/format.md``).
    """
    from ferrotrack.core._native import live_segments as native_live_segments

    live, covered = native_live_segments(run_path)
    return (
        [(SegmentName(rank, lo, hi), Path(path)) for rank, lo, hi, path in live],
        [Path(path) for path in covered],
    )


def summary_paths(run_path: Path) -> dict[int, Path]:
    """The summary file of every rank of a run, by rank (named by the store crate)."""
    from ferrotrack.core._native import summary_files

    return {rank: Path(path) for rank, path in summary_files(run_path)}


def heartbeat_is_stale(meta: Mapping[str, Any], now_ns: int) -> bool:
    """Whether the heartbeat is older than ``max(3 × flush_interval, 10 s) + 5 s``."""
    beat = meta.get("heartbeat")
    if not isinstance(beat, int):
        beat = meta.get("started")
    if not isinstance(beat, int):
        return False
    interval = meta.get("flush_interval")
    interval_s = float(interval) if isinstance(interval, int | float) else 1.0
    limit_s = max(3.0 * interval_s, HEARTBEAT_MIN_S) + HEARTBEAT_MARGIN_S
    return now_ns - beat > limit_s * 1e9


def effective_status(meta: Mapping[str, Any], *, now_ns: int | None = None) -> str:
    """The status a reader reports: ``crashed`` for a ``running`` run whose writer is gone."""
    status = meta.get("status")
    if not isinstance(status, str):
        return "crashed" if meta else "running"
    if status != "running":
        return status
    host, pid = meta.get("host"), meta.get("pid")
    if isinstance(host, str) and isinstance(pid, int):
        start = meta.get("pid_start")
        if is_alive(host, pid, start if isinstance(start, int) else None) is False:
            return "crashed"
    if heartbeat_is_stale(meta, time.time_ns() if now_ns is None else now_ns):
        return "crashed"
    return "running"


def _experiments(root: Path, experiment: str | Iterable[str] | None) -> list[tuple[str, Path]]:
    if experiment is not None:
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        return [(validate_experiment(n), root / f"{_EXPERIMENT_PREFIX}{n}") for n in names]
    out: list[tuple[str, Path]] = []
    try:
        with os.scandir(root) as it:
            for entry in it:
                if entry.name.startswith(_EXPERIMENT_PREFIX) and entry.is_dir():
                    out.append((entry.name[len(_EXPERIMENT_PREFIX) :], Path(entry.path)))
    except FileNotFoundError:
        pass
    return sorted(out)


def iter_run_refs(
    root: str | os.PathLike[str] | None = None,
    *,
    experiment: str | Iterable[str] | None = None,
) -> Iterator[RunRef]:
    """Every run folder under ``root`` (of the given experiments), ordered by experiment, id."""
    base = resolve_root(root)
    for name, exp_path in _experiments(base, experiment):
        refs: list[RunRef] = []
        try:
            with os.scandir(exp_path) as it:
                for entry in it:
                    if entry.name.startswith(_RUN_PREFIX) and entry.is_dir():
                        run_id = entry.name[len(_RUN_PREFIX) :]
                        refs.append(RunRef(name, run_id, entry.path))
        except FileNotFoundError:
            continue
        refs.sort(key=lambda r: r.run_id)
        yield from refs


def _check_status(status: str | Iterable[str] | None) -> frozenset[str] | None:
    if status is None:
        return None
    wanted = frozenset([status] if isinstance(status, str) else status)
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise InvalidArgumentError(f"status {unknown!r}: expected one of {', '.join(STATUSES)}")
    return wanted


def list_runs(
    root: str | os.PathLike[str] | None = None,
    *,
    experiment: str | Iterable[str] | None = None,
    status: str | Iterable[str] | None = None,
) -> list[RunRecord]:
    """Every run with its ``run.json`` and effective status, optionally filtered."""
    wanted = _check_status(status)
    now = time.time_ns()
    out: list[RunRecord] = []
    refs = list(iter_run_refs(root, experiment=experiment))
    metas = read_json_objects([os.path.join(ref.folder, "run.json") for ref in refs])
    for ref, meta in zip(refs, metas, strict=True):
        state = effective_status(meta, now_ns=now)
        if wanted is None or state in wanted:
            out.append(RunRecord(ref, meta, state))
    return out


def find_run(
    ref: str,
    root: str | os.PathLike[str] | None = None,
    *,
    experiment: str | Iterable[str] | None = None,
) -> RunRef:
    """The run whose id is ``ref``, starts with ``ref``, or (failing both) is named ``ref``.

    ``experiment/run_id`` is accepted too. Raises :class:`RunNotFoundError` when nothing or
    more than one run matches.
    """
    if not ref:
        raise RunNotFoundError("empty run id: give an id, a unique id prefix or a run name")
    if "/" in ref and experiment is None:
        experiment, ref = ref.rsplit("/", 1)
    candidates = list(iter_run_refs(root, experiment=experiment))
    exact = [r for r in candidates if r.run_id == ref]
    if exact and len(exact) == 1:
        return exact[0]
    matches = exact or [r for r in candidates if r.run_id.startswith(ref.lower())]
    if not matches:
        matches = [r for r in candidates if read_json(r.path / "run.json").get("name") == ref]
    if len(matches) == 1:
        return matches[0]
    where = resolve_root(root)
    if not matches:
        raise RunNotFoundError(f"no run matches {ref!r} under {where}")
    shown = ", ".join(f"{r.experiment}/{r.run_id}" for r in matches[:5])
    raise RunNotFoundError(
        f"{ref!r} matches {len(matches)} runs under {where} ({shown}"
        f"{', …' if len(matches) > 5 else ''}): give more of the id"
    )


def summary_schema() -> dict[str, pl.DataType]:
    """polars types of the summary columns (``docs/format.md``), in order."""
    import polars as pl

    return {
        "name": pl.String(),
        "count": pl.Int64(),
        "first": pl.Float64(),
        "last": pl.Float64(),
        "min": pl.Float64(),
        "max": pl.Float64(),
        "first_step": pl.Int64(),
        "last_step": pl.Int64(),
        "last_timestamp": pl.Datetime("ns", "UTC"),
        "nan_count": pl.Int64(),
    }


def combine_summaries(frame: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Summaries of several ranks combined per ``keys + [name]`` (needs a ``rank`` column).

    Only the summary columns present are combined; ``last`` and ``last_step`` need
    ``last_timestamp`` beside them (the rank whose last point is latest wins).
    """
    import polars as pl

    latest = ["last_timestamp", "rank"]
    rules = {
        "count": pl.col("count").sum(),
        "first": pl.col("first").sort_by("rank").first(),
        "last": pl.col("last").sort_by(latest).last(),
        "min": pl.col("min").min(),
        "max": pl.col("max").max(),
        "first_step": pl.col("first_step").sort_by("rank").first(),
        "last_step": pl.col("last_step").sort_by(latest).last(),
        "last_timestamp": pl.col("last_timestamp").max(),
        "nan_count": pl.col("nan_count").sum(),
    }
    present = frame.collect_schema().names()
    return frame.group_by([*keys, "name"], maintain_order=True).agg(
        rule for column, rule in rules.items() if column in present
    )
