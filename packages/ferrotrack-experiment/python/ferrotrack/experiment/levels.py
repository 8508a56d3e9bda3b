"""The life of one level (experiment, trial, trial run) in the store: its run, its
environment, and the start and end events around its body.

Shared by ``Experiment.run`` (the experiment level) and ``TrialRunner`` (the levels under
it), so that every level starts, records and ends the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import ferrotrack.core as ft
from ferrotrack.experiment.common import Level
from ferrotrack.experiment.environment import Environment
from ferrotrack.experiment.outcome import ExperimentOutcome
from ferrotrack.experiment.trackers.tracker import Tracker
from ferrotrack.experiment.trackers.tracker_manager import TrackerManager

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["level_environment", "level_events", "start_level_run"]


def start_level_run(
    experiment: str,
    root: Path,
    trackers: Sequence[Tracker],
    earlier: str | None,
    *,
    name: str,
    params: Mapping[str, Any],
    tags: Mapping[str, Any],
    parent: ft.Run | None = None,
) -> ft.Run:
    """A new run, or the ``earlier`` one continued; every run gets fresh instances of
    the backends ``env.yaml`` names (a backend instance serves one run)."""
    specs = TrackerManager(None, trackers).backend_specs() if trackers else []
    backends = specs or None  # [] would turn off the backends of ferrotrack's settings
    if earlier is not None:
        return ft.start_run(
            experiment=experiment,
            root=root,
            run_id=earlier,
            resume=True,
            tags=tags,
            backends=backends,
        )
    return ft.start_run(
        name,
        experiment=experiment,
        root=root,
        params=params,
        tags=tags,
        parent=parent,
        backends=backends,
    )


def level_environment(
    parent: Environment,
    name: str,
    *,
    level: Level,
    run: ft.Run,
    config: DictConfig | None = None,
) -> Environment:
    """The level's environment, its folders made; if that fails, ``run`` ends failed."""
    try:
        env = parent.create_child(name, level=level, run=run, config=config)
        env.setup_environment()
    except BaseException as exc:
        run.finish("failed", error=exc)
        raise
    return env


@contextmanager
def level_events(
    env: Environment, run: ft.Run, level: Level, outcome: ExperimentOutcome, **ctx: Any
) -> Iterator[None]:
    """The level's start and end events around its body, then the run's final status:
    ``failed`` when a trial run under it failed (or the body raised), ``killed`` when
    interrupted."""
    before = len(outcome.failed)
    manager = env.tracker_manager
    manager.on_create(level, **ctx)
    manager.on_start(level, **ctx)
    status: Literal["finished", "failed", "killed"] = "finished"
    error: BaseException | None = None
    try:
        yield
    except Exception as exc:
        status, error = "failed", exc
        raise
    except BaseException as exc:
        status, error = "killed", exc
        raise
    finally:
        if status == "finished" and len(outcome.failed) > before:
            status = "failed"
        try:
            manager.on_end(level, status=status, **ctx)
        finally:
            run.finish(status, error=error)
