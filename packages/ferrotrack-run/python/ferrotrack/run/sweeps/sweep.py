"""``sweep()``: one model run's config swept over a grid or a random search, each point a
model run of its own, fanned out through any run backend with a concurrency limit.

The sweep itself is a ferrotrack run (params: the space; tags ``ferrotrack.sweep``), the
parent of every point's run, so the store alone says what was swept and how it went. The
result is a polars DataFrame: one row per point, its params and each metric's final value.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.execution import get_execution_plugin, run_many
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.run.errors import ModelRunError
from ferrotrack.run.execution import cancel, model_view
from ferrotrack.run.model import ModelRun
from ferrotrack.run.sweeps.space import Point, SearchSpace, SweepSpecError, make_space

__all__ = [
    "POINT_TAG",
    "SWEEP_KIND_TAG",
    "SWEEP_TAG",
    "Sweep",
    "results_frame",
    "run_sweep",
    "sweep",
]

SWEEP_TAG = "ferrotrack.sweep"
"""The sweep run's id, on the sweep run and on every point's run."""
SWEEP_KIND_TAG = "ferrotrack.sweep_kind"
"""``grid`` or ``random``, on the sweep run."""
POINT_TAG = "ferrotrack.sweep_point"
"""The point's index, on each point's run."""

_EXIT_CODE = "run/exit_code"
_DURATION = "run/duration_s"
_BASE_COLUMNS = (
    "point",
    "run_id",
    "model_run_id",
    "success",
    "status",
    "exit_code",
    "duration_s",
)


@dataclass(frozen=True)
class Sweep:
    """What a sweep did: its ferrotrack run, the points and their model runs, the table."""

    run_id: str
    """The sweep's own ferrotrack run (the parent of every point's run)."""
    experiment: str
    backend: str
    space: SearchSpace
    points: list[Point]
    model_runs: list[ModelRun]
    results: pl.DataFrame
    """One row per point: see :func:`sweep`."""

    @property
    def ok(self) -> bool:
        """Every point succeeded."""
        return bool(self.results["success"].all())


def sweep(
    model: ModelRun,
    *,
    grid: Mapping[str, Iterable[Any]] | None = None,
    random: Mapping[str, Any] | None = None,
    samples: int | None = None,
    seed: int | None = None,
    backend: str = "local",
    max_concurrency: int = 4,
    **backend_kwargs: Any,
) -> pl.DataFrame:
    """Runs ``model`` once per point of a grid or random search on ``backend``, at most
    ``max_concurrency`` at once, and returns one row per point.

    Columns: ``point``, ``run_id`` (the point's ferrotrack run), ``model_run_id``,
    ``success``, ``status``, ``exit_code``, ``duration_s``, then each swept key (dotted
    keys as they are) and each metric's final value under its name (``param:<key>`` /
    ``metric:<name>`` when a name is taken by a column before it).

    ``grid={"lr": [1e-3, 1e-4]}`` (the product of the lists) or ``random={"lr":
    "loguniform(1e-5,1e-1)"}`` with ``samples`` (and ``seed`` to draw the same points
    again). ``backend_kwargs`` are the backend's config, as for ``model.run``. Bad input
    (a space, a backend name, a config) raises before anything runs; a failing point is a
    row with ``success`` False. Ctrl-C cancels every point still running, marks the sweep
    run killed, then is raised again.

    >>> sweep(model, grid={"lr": [1e-3, 1e-4]}, backend="local")  # doctest: +SKIP
    """
    return run_sweep(
        model,
        grid=grid,
        random=random,
        samples=samples,
        seed=seed,
        backend=backend,
        max_concurrency=max_concurrency,
        **backend_kwargs,
    ).results


def run_sweep(
    model: ModelRun,
    *,
    grid: Mapping[str, Iterable[Any]] | None = None,
    random: Mapping[str, Any] | None = None,
    samples: int | None = None,
    seed: int | None = None,
    backend: str = "local",
    max_concurrency: int = 4,
    **backend_kwargs: Any,
) -> Sweep:
    """:func:`sweep`, returning the :class:`Sweep` (its run id, points, model runs)."""
    if not isinstance(model, ModelRun):
        raise InvalidArgumentError(f"model: expected a ModelRun, got {type(model).__name__}")
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise InvalidArgumentError(
            f"max_concurrency: expected an integer >= 1, got {max_concurrency!r}"
        )
    space = make_space(grid=grid, random=random, samples=samples, seed=seed)
    points = space.points()
    # One store for the sweep and every point, named absolutely: a point's command runs
    # in its own folder, where a relative store path would point elsewhere.
    model = model.model_copy(update={"root": resolve_root(model.root).resolve()})
    plugin = get_execution_plugin("run", backend)
    make_config = getattr(plugin, "make_config", None)
    if callable(make_config):  # a bad config is refused before the sweep run exists
        make_config(model, backend_kwargs)
    # Every point's model run is built (and checked) before the sweep run exists: a point
    # that cannot be one must not leave a sweep run "running" behind it.
    models = [_point_model(model, point, index) for index, point in enumerate(points)]
    top = ft.start_run(
        f"{model.name or model.run_id}-sweep",
        experiment=model.experiment,
        root=model.root,
        params={
            "sweep": space.describe(),
            "model_run": model.run_id,
            "backend": backend,
            "max_concurrency": max_concurrency,
            "points": len(points),
        },
        tags={**model.tags, SWEEP_KIND_TAG: space.kind, "ferrotrack.backend": backend},
        parent=model.parent,
    )
    try:
        top.set_tags({SWEEP_TAG: top.run_id})
        for index, point_model in enumerate(models):
            point_model.parent = top.run_id
            point_model.tags = {**model.tags, SWEEP_TAG: top.run_id, POINT_TAG: str(index)}
        outcomes = _run_all(plugin, models, max_concurrency, backend_kwargs)
        frame = results_frame(top.run_id, models, points, outcomes, root=model.root)
        _save_table(top, frame)
    except KeyboardInterrupt:
        top.set_tags({"ferrotrack.reason": "interrupted (KeyboardInterrupt): points cancelled"})
        top.finish("killed", signal_name="SIGINT")
        raise
    except BaseException as exc:
        top.finish("failed", error=exc)
        raise
    failed = len(outcomes) - sum(outcomes)
    top.log({"sweep/points": float(len(outcomes)), "sweep/failed": float(failed)}, step=0)
    if failed:
        why = f"{failed} of {len(outcomes)} points failed"
        top.set_tags({"ferrotrack.reason": why})
        top.finish("failed", error=RuntimeError(why))
    else:
        top.finish("finished")
    return Sweep(top.run_id, model.experiment, backend, space, points, models, frame)


def _save_table(run: ft.Run, frame: pl.DataFrame) -> None:
    """The result table as the sweep run's artifact ``sweep.parquet``."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sweep.parquet"
        frame.write_parquet(path)
        run.log_artifact(path)


def _point_model(model: ModelRun, point: Point, index: int) -> ModelRun:
    """The model run of one point: its own id and config (:class:`SweepSpecError` naming
    the point when it cannot be a model run); the sweep run is set as its parent later."""
    try:
        return model.with_config(point, run_id=f"{model.run_id}-{index:03d}")
    except ModelRunError as exc:
        raise SweepSpecError(f"point {index} ({point}): {exc}") from None


def _run_all(
    plugin: Any, models: Sequence[ModelRun], max_concurrency: int, kwargs: Mapping[str, Any]
) -> list[bool]:
    """Every point through the backend (core's :func:`run_many`: native fan-out where the
    backend has it, else a thread pool). A plain third-party backend may not know how to
    cancel: on Ctrl-C each point's own run gets its cancel file too."""

    def cancel_points() -> None:
        for m in models:
            tracked = m.tracked_run
            if tracked is not None and tracked.status == "running":
                cancel(tracked.run_dir)

    return run_many(
        plugin, models, max_concurrency=max_concurrency, on_abort=cancel_points, **kwargs
    )


def results_frame(
    sweep_run: str,
    models: Sequence[ModelRun],
    points: Sequence[Point],
    outcomes: Sequence[bool],
    *,
    root: Any = None,
) -> pl.DataFrame:
    """The table of a sweep: one row per point, read back from the store (status, exit
    code, duration and final metric values of each point's run). Only the sweep's own
    runs (its children) are read, however many runs the experiment holds."""
    experiment = model_view(models[0]).experiment if models else None
    stored, metric_columns = _point_rows(root, experiment, sweep_run) if models else ({}, [])
    keys = list(dict.fromkeys(key for point in points for key in point))
    metric_names = sorted(
        c.removesuffix(".last")
        for c in metric_columns
        if c not in (f"{_EXIT_CODE}.last", f"{_DURATION}.last")
    )
    rows = []
    for index, (model, point, ok) in enumerate(zip(models, points, outcomes, strict=True)):
        found = stored.get(model.run_id, {})
        exit_code = found.get(f"{_EXIT_CODE}.last")
        rows.append(
            {
                "point": index,
                "run_id": found.get("run_id"),
                "model_run_id": model.run_id,
                "success": ok,
                "status": found.get("status"),
                "exit_code": None if exit_code is None else int(exit_code),
                "duration_s": found.get(f"{_DURATION}.last"),
                **{("param:" if k in _BASE_COLUMNS else "") + k: point.get(k) for k in keys},
                **{_metric_column(n, keys): found.get(f"{n}.last") for n in metric_names},
            }
        )
    schema: dict[str, Any] = {
        "point": pl.Int64,
        "run_id": pl.String,
        "model_run_id": pl.String,
        "success": pl.Boolean,
        "status": pl.String,
        "exit_code": pl.Int64,
        "duration_s": pl.Float64,
    }
    schema.update({_metric_column(n, keys): pl.Float64 for n in metric_names})
    names = list(rows[0]) if rows else list(schema)
    return pl.DataFrame([_column(n, [row[n] for row in rows], schema.get(n)) for n in names])


def _column(name: str, values: list[Any], dtype: Any) -> pl.Series:
    """A column; a param whose values mix types is kept as text rather than lost."""
    if dtype is not None:
        return pl.Series(name, values, dtype=dtype)
    try:
        return pl.Series(name, values, strict=True)
    except (TypeError, pl.exceptions.PolarsError, OverflowError):
        if all(v is None or isinstance(v, int | float) for v in values):
            return pl.Series(name, values, dtype=pl.Float64, strict=False)
        return pl.Series(name, [None if v is None else str(v) for v in values], dtype=pl.String)


def _metric_column(name: str, keys: Sequence[str]) -> str:
    taken = name in _BASE_COLUMNS or name in keys or name.startswith("param:")
    return f"metric:{name}" if taken else name


def _point_rows(
    root: Any, experiment: str | None, sweep_run: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The sweep run's children by their model run id (the latest run of a model run wins,
    should a backend have run one twice): run id, status and ``<metric>.last`` of each,
    and the ``<metric>.last`` names that hold a value. Only the children's run.json are
    kept and only their summaries read."""
    from ferrotrack.core.analysis.summaries import read_summaries
    from ferrotrack.core.store.catalog import list_runs

    children = sorted(
        (r for r in list_runs(root, experiment=experiment) if r.meta.get("parent") == sweep_run),
        key=lambda r: r.ref.run_id,
    )
    rows: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(children):
        tags = record.meta.get("tags")
        model_run = tags.get("ferrotrack.model_run") if isinstance(tags, dict) else None
        if isinstance(model_run, str):
            rows[model_run] = {"run_id": record.ref.run_id, "status": record.status, "_i": index}
    if not rows:
        return {}, []
    summary = read_summaries([r.ref for r in children], columns=("last",))
    last: dict[int, dict[str, Any]] = {}
    for entry in summary.iter_rows(named=True):
        last.setdefault(entry["run_idx"], {})[f"{entry['name']}.last"] = entry["last"]
    present: set[str] = set()
    for row in rows.values():
        values = last.get(row.pop("_i"), {})
        row.update(values)
        present.update(name for name, value in values.items() if value is not None)
    return rows, sorted(present)
