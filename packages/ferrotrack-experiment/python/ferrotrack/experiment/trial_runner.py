"""``TrialRunner``: one ``Experiment.run()``'s trials, each under its trial run, each of its
repeats a trial-run run with its own environment and pipeline.

A trial run that fails (or never starts) is recorded with its error and the others go on;
``on_error: raise`` re-raises after recording. Finished trial runs with unchanged settings
are skipped unless the call is ``fresh``.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ferrotrack.core as ft
from ferrotrack.experiment.common import Level, RunStatus, store_status
from ferrotrack.experiment.config.expand import TrialRunSpec, TrialSpec
from ferrotrack.experiment.environment import Environment
from ferrotrack.experiment.errors import ExperimentError
from ferrotrack.experiment.factory import FactoryRegistry, FactoryType
from ferrotrack.experiment.levels import level_environment, level_events, start_level_run
from ferrotrack.experiment.outcome import ExperimentOutcome, TrialRunOutcome
from ferrotrack.experiment.pipelines.pipeline import StopTraining
from ferrotrack.experiment.progress import TrialProgress
from ferrotrack.experiment.runs import (
    CONFIG_HASH_TAG,
    LEVEL_TAG,
    OUTCOME_TAG,
    REPEAT_TAG,
    SEED_TAG,
    STOP_REASON_TAG,
    TRIAL_TAG,
    StoredExperiment,
    state_of,
    tags_of,
)
from ferrotrack.experiment.seeding import seed_everything
from ferrotrack.experiment.trackers.tracker import Tracker
from ferrotrack.experiment.trial_config import (
    epochs_of,
    params_hash,
    pipeline_type,
    spec_hash,
    trial_run_config,
)

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["TrialRunner"]


@dataclass(frozen=True)
class TrialRunner:
    """What the trials of one ``run()`` share: where runs go, how pipelines are built, what
    to do on an error, and where outcomes and progress are recorded."""

    experiment: str
    root: Path
    trackers: Sequence[Tracker]
    factory_registry: FactoryRegistry
    on_error: str
    logger: logging.Logger
    """The experiment level's logger, for trial runs that never got an environment."""
    stored: StoredExperiment
    outcome: ExperimentOutcome
    bars: TrialProgress
    fresh: bool = False
    """Run every trial run given, finished or not (the trials a ``run(trials=...)`` named)."""
    extra_tags: Mapping[str, str] = field(default_factory=dict)
    """Tags every run it starts also carries (a trial process: its executor and execution)."""

    def run_trial(
        self, trial: TrialSpec, specs: Sequence[TrialRunSpec], parent_env: Environment
    ) -> None:
        """The trial's trial runs still to do (``specs`` less the skipped), under its run."""
        todo: list[TrialRunSpec] = []
        for spec in specs:
            latest = self.stored.latest(trial.name, spec.repeat)
            if not self.fresh and state_of(latest) in ("done", "stopped"):
                assert latest is not None
                recorded = tags_of(latest).get(CONFIG_HASH_TAG)
                if recorded is None or recorded == spec_hash(spec):  # None: an older run
                    self.outcome.add(
                        TrialRunOutcome(
                            trial.name, spec.repeat, RunStatus.SKIPPED, latest.ref.run_id
                        )
                    )
                    self.bars.skipped(spec.name)
                    parent_env.logger.info(
                        "skipping %s: done in run %s", spec.name, latest.ref.run_id
                    )
                    continue
                parent_env.logger.info(
                    "running %s again: its settings changed since run %s",
                    spec.name,
                    latest.ref.run_id,
                )
            todo.append(spec)
        if not todo:
            return
        earlier = self.stored.trials.get(trial.name)
        try:
            trial_run = self._start(
                earlier.ref.run_id if earlier is not None else None,
                name=trial.name,
                params=trial.settings,
                tags={LEVEL_TAG: "trial", TRIAL_TAG: trial.name},
                parent=parent_env.run,
            )
        except Exception as exc:
            for spec in todo:
                self._not_started(spec, exc, "its trial's run could not start", None)
            return
        try:
            env = level_environment(
                parent_env, _folder(trial.name), level=Level.TRIAL, run=trial_run
            )
        except Exception as exc:  # the trial's run is in the store, failed with the error
            for spec in todo:
                self._not_started(spec, exc, "its trial's folder could not be made", None)
            return
        try:
            with level_events(
                env, trial_run, Level.TRIAL, self.outcome, name=trial.name, trial_id=trial.id
            ):
                for spec in todo:
                    self._run_trial_run(spec, env)
        finally:
            env.close()

    def _run_trial_run(self, spec: TrialRunSpec, parent_env: Environment) -> None:
        """One attempt at one repeat: its run, its environment, the pipeline, the outcome."""
        trial, repeat, seed = spec.trial.name, spec.repeat, spec.seed
        config, params, config_error = trial_run_config(spec)
        tags = {LEVEL_TAG: "trial_run", TRIAL_TAG: trial, REPEAT_TAG: repeat, SEED_TAG: seed}
        tags[CONFIG_HASH_TAG] = params_hash(params)
        try:
            run = self._start(None, name=spec.name, params=params, tags=tags, parent=parent_env.run)
        except Exception as exc:
            self._not_started(spec, exc, "its run could not start", None)
            return
        try:
            env = level_environment(
                parent_env, f"repeat-{repeat}", level=Level.TRIAL_RUN, run=run, config=config
            )
        except Exception as exc:  # the run is in the store, failed with the error
            self._not_started(spec, exc, "its folder could not be made", run.run_id)
            return
        manager = env.tracker_manager
        status, reason = RunStatus.FAILED, None
        error: BaseException | None = None
        try:
            self.bars.start(spec.name, epochs_of(config), manager)
            manager.on_create(Level.TRIAL_RUN, trial=trial, repeat=repeat, seed=seed)
            manager.on_start(Level.TRIAL_RUN, name=spec.name, trial=trial, repeat=repeat, seed=seed)
            if self.trackers:
                manager.log_params(params)  # the run has them; user trackers see them here
            if config_error is not None:
                raise config_error
            assert config is not None
            status, reason = self._run_pipeline(spec, config, env)
        except Exception as exc:
            error = exc
            env.logger.exception("trial run %s failed", spec.name)
        except BaseException as exc:  # interrupted: recorded as killed, then let through
            status, error = RunStatus.ABORTED, exc
            raise
        finally:
            try:
                ended = {OUTCOME_TAG: status.value}
                if status is RunStatus.STOPPED and reason:
                    ended[STOP_REASON_TAG] = reason
                run.set_tags(ended)
                manager.on_end(Level.TRIAL_RUN, name=spec.name, status=status.value)
            finally:
                run.finish(store_status(status), error=error)
                env.close()
                self.bars.finished(spec.name, status.value)
                text = None if error is None else repr(error)
                self.outcome.add(TrialRunOutcome(trial, repeat, status, run.run_id, text))
        if error is not None and self.on_error == "raise":
            raise error

    def _not_started(
        self, spec: TrialRunSpec, exc: Exception, what: str, run_id: str | None
    ) -> None:
        """A trial run that never got to its pipeline: failed, naming the trial; the others
        go on (``on_error: raise``: an ExperimentError, after recording)."""
        text = f"trial {spec.trial.name!r}, repeat {spec.repeat}: {what}: {exc!r}"
        self.logger.error("%s", text)
        self.bars.finished(spec.name, RunStatus.FAILED.value)
        self.outcome.add(
            TrialRunOutcome(spec.trial.name, spec.repeat, RunStatus.FAILED, run_id, text)
        )
        if self.on_error == "raise":
            raise ExperimentError(text) from exc

    def _run_pipeline(
        self, spec: TrialRunSpec, config: DictConfig, env: Environment
    ) -> tuple[RunStatus, str | None]:
        """Seeds, builds the pipeline with the registry's factory and runs it; returns how
        it ended (completed or stopped, with the stop's reason)."""
        seed_everything(spec.seed)
        factory = self.factory_registry.get(FactoryType.PIPELINE)
        pipeline = factory.create(pipeline_type(spec.trial), config, env)
        try:
            pipeline.run(config)
        except StopTraining as stop:  # a pipeline without run_wrapper let the stop through
            return RunStatus.STOPPED, stop.reason
        reason = getattr(pipeline, "stop_reason", None)
        return _pipeline_status(pipeline), None if reason is None else str(reason)

    def _start(
        self,
        earlier: str | None,
        *,
        name: str,
        params: Mapping[str, Any],
        tags: Mapping[str, Any],
        parent: ft.Run | None = None,
    ) -> ft.Run:
        """``start_level_run`` in this experiment's store."""
        return start_level_run(
            self.experiment,
            self.root,
            self.trackers,
            earlier,
            name=name,
            params=params,
            tags={**tags, **self.extra_tags},
            parent=parent,
        )


def _pipeline_status(pipeline: Any) -> RunStatus:
    """How the pipeline says it ended, as the trial run's status (a failure it caught
    itself still fails the trial run)."""
    status = getattr(pipeline, "status", None)
    if status is RunStatus.STOPPED:
        return RunStatus.STOPPED
    if status in (RunStatus.FAILED, RunStatus.ABORTED):
        return RunStatus.FAILED
    return RunStatus.COMPLETED  # COMPLETED, or RUNNING from a pipeline without run_wrapper


_UNSAFE = re.compile(r"[/\\\x00-\x1f]")
_MAX_FOLDER = 120  # bytes; file systems allow 255, and the hash and a margin need room


def _folder(name: str) -> str:
    """A trial name as one folder name: the name itself when it is a safe one, else the
    name made safe plus a short stable hash of the original, so that ``a/b`` and ``a_b``
    get two folders and ``..`` or ``.`` never points outside the workspace."""
    safe = _UNSAFE.sub("_", name)
    if safe in ("", ".", ".."):
        safe = "_" * len(safe) or "_"
    if len(safe.encode()) > _MAX_FOLDER:
        safe = safe.encode()[:_MAX_FOLDER].decode(errors="ignore")
    if safe == name:
        return name
    return f"{safe}-{zlib.crc32(name.encode()):08x}"
