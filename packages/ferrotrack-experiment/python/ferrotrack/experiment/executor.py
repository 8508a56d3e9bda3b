"""Trials on a run backend: each trial a process of its own, started by any backend of the
entry-point group ``ferrotrack.run`` (``local``, ``docker``, ``slurm``, ``ray``, ``dask``...),
at most ``max_concurrency`` at once.

The backend is found by entry point only: this package never imports ``ferrotrack.run``.
Each trial becomes a small object with core's ``ModelRun`` protocol whose command is
``ferrotrack experiment run CONFIG_DIR --trial NAME --in-run <experiment run>``: that child
process runs the trial's trial runs under the experiment run this process started, exactly
as they would run here (same runs, params, tags and statuses, so ``results()`` is
unchanged). The backend records its own run per trial process (its stdout and stderr in
``logs/``) in the experiment ``<experiment>.executions``, tagged with the experiment run and
the trial; the trial's runs are tagged with that execution run's id.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.execution import (
    execution_plugin_names,
    get_execution_plugin,
    load_execution_plugin,
    run_many,
)
from ferrotrack.core.run import RUN_DIR_ENV
from ferrotrack.core.store.catalog import RunRecord
from ferrotrack.experiment.common import RunStatus
from ferrotrack.experiment.config.expand import TrialRunSpec, TrialSpec, trial_runs
from ferrotrack.experiment.errors import ConfigError, ExperimentError, UnknownNameError
from ferrotrack.experiment.outcome import ExperimentOutcome, TrialRunOutcome
from ferrotrack.experiment.progress import TrialProgress
from ferrotrack.experiment.runs import (
    CONFIG_HASH_TAG,
    OUTCOME_TAG,
    TRIAL_TAG,
    StoredExperiment,
    find_experiment,
    state_of,
    tags_of,
)
from ferrotrack.experiment.serializable import YAMLSerializable
from ferrotrack.experiment.trial_config import pipeline_type, spec_hash
from ferrotrack.experiment.trial_runner import _folder

if TYPE_CHECKING:
    from ferrotrack.experiment.experiment import Experiment

__all__ = [
    "EXECUTIONS_SUFFIX",
    "EXECUTION_TAG",
    "EXECUTOR_TAG",
    "EXPERIMENT_RUN_TAG",
    "ExecutorSpec",
    "TrialExecutor",
    "TrialProcess",
    "executor_spec",
    "run_trial_process",
]

EXECUTIONS_SUFFIX = ".executions"
"""The executor's runs go to the experiment ``<experiment>.executions``."""
EXECUTION_TAG = "ferrotrack.execution"
"""On a trial's runs: the id of the executor's run of the process that ran them."""
EXECUTOR_TAG = "ferrotrack.executor"
"""On a trial's runs: the run backend that started its process."""
EXPERIMENT_RUN_TAG = "ferrotrack.experiment_run"
"""On an executor's run: the experiment run its trial ran under."""
_EXECUTOR_ENV = "FERROTRACK_EXECUTOR"
"""Tells the trial process which backend started it (for its tag)."""

DEFAULT_MAX_CONCURRENCY = 4


# --- which executor -------------------------------------------------------------------------


@dataclass(frozen=True)
class ExecutorSpec:
    """A run backend by name, its config and how many trials run at once."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY


def executor_spec(
    executor: str | Mapping[str, Any] | None, max_concurrency: int | None
) -> ExecutorSpec | None:
    """The executor asked for (``None``: trials run in this process): a backend name, or
    ``{type: <name>, <config>...}``; its name must be an installed run backend."""
    if executor is None:
        if max_concurrency is not None:
            raise InvalidArgumentError(
                "max_concurrency: given without an executor to run trials on"
            )
        return None
    if isinstance(executor, Mapping):
        options = dict(executor)
        name = options.pop("type", None)
    else:
        name, options = executor, {}
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f"executor: expected a run backend name or {{type: <name>, ...}}, got {executor!r}"
        )
    limit = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgumentError(f"max_concurrency: expected an integer >= 1, got {limit!r}")
    installed = execution_plugin_names("run")
    if name not in installed:
        error = UnknownNameError("executor", name, installed)
        listed = ", ".join(installed) or "none (pip install ferrotrack-run)"
        error.args = (
            f"unknown executor {name!r}: no run backend of that name in the entry-point "
            f"group 'ferrotrack.run'; installed run backends: {listed}",
        )
        raise error
    _check_options(name, options)
    return ExecutorSpec(name, options, limit)


def _check_options(name: str, options: Mapping[str, Any]) -> None:
    """Checks ``options`` against the backend's config model (its plugin metadata) before
    any run starts, so a typo is a :class:`ConfigError` naming the field, not a failed
    experiment run. A plain backend class (no metadata) is not checked here."""
    from pydantic import BaseModel, ValidationError

    cls = load_execution_plugin("run", name)
    metadata = getattr(cls, "get_metadata", None)
    model = getattr(metadata(), "config_model", None) if callable(metadata) else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return
    data = {k: v for k, v in options.items() if k not in ("backend_type", "type")}
    try:
        model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"executor.{'.'.join(str(p) for p in e['loc']) or '<config>'}: {e['msg']}"
            for e in err.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"executor {name!r}: invalid options: {problems}") from None


# --- the model run of one trial ------------------------------------------------------------


@dataclass
class TrialProcess:
    """One trial's process, as core's ``ModelRun`` protocol describes a model run (plus the
    optional fields run backends read: name, experiment, command, env_vars...)."""

    run_id: str
    output_dir: Path
    name: str
    experiment: str
    command: list[str]
    config: dict[str, Any]
    root: Path
    work_dir: Path
    env_vars: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    parent: str | None = None
    held: str | None = None
    """Why it was never handed to the backend (``on_error: raise`` after a failure)."""
    _tracked: ft.Run | None = field(default=None, repr=False)

    @property
    def staging_dir(self) -> Path:
        """``output_dir / run_id``: the process's own folder."""
        return self.output_dir / self.run_id

    def generate(self) -> Path:
        """Nothing to render: the trial reads the config directory itself."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        return self.staging_dir

    @property
    def tracked_run(self) -> ft.Run | None:
        """The executor's run of this process (once started)."""
        return self._tracked

    def attach_tracked_run(self, run: ft.Run) -> None:
        """Called by a run backend when it opens its run."""
        self._tracked = run


# --- this side: start the processes, read what they did -------------------------------------


@dataclass(frozen=True)
class TrialExecutor:
    """Runs one ``Experiment.run()``'s trials as processes on a run backend and files what
    each trial run did in ``outcome``, from the store."""

    experiment: str
    config_dir: Path
    root: Path
    workspace: Path
    spec: ExecutorSpec
    logger: logging.Logger
    stored: StoredExperiment
    outcome: ExperimentOutcome
    bars: TrialProgress
    resume: bool
    fresh: bool
    on_error: str
    imports: Sequence[str] = ()

    def run(self, top: ft.Run, plan: Sequence[tuple[TrialSpec, Sequence[TrialRunSpec]]]) -> None:
        """Every trial of ``plan`` with something to do, in a process of its own."""
        todo = []
        for trial, specs in plan:
            if all(self._skips(trial, spec) for spec in specs):
                for spec in specs:
                    latest = self.stored.latest(trial.name, spec.repeat)
                    run_id = latest.ref.run_id if latest is not None else None
                    self.outcome.add(
                        TrialRunOutcome(trial.name, spec.repeat, RunStatus.SKIPPED, run_id)
                    )
                    self.bars.skipped(spec.name)
                continue
            todo.append((trial, specs))
        if not todo:
            return
        plugin = get_execution_plugin("run", self.spec.name)
        imports = [*self.imports, *_class_imports([t for t, _ in todo])]
        processes = [self._process(top, trial, imports) for trial, _ in todo]
        self.logger.info(
            "%d trial(s) on run backend %r, at most %d at once",
            len(processes),
            self.spec.name,
            self.spec.max_concurrency,
        )
        oks = _run_all(
            plugin,
            processes,
            self.spec.max_concurrency,
            self.spec.options,
            stop_on_failure=self.on_error == "raise",
        )
        after = find_experiment(self.root, self.experiment)
        failed: list[str] = []
        for (trial, specs), process, ok in zip(todo, processes, oks, strict=True):
            for spec in specs:
                item = self._outcome(trial, spec, process, ok, after)
                self.outcome.add(item)
                self.bars.finished(spec.name, item.status.value)
                if item.status is RunStatus.FAILED:
                    failed.append(f"{item.label}: {item.error}")
        if failed and self.on_error == "raise":
            raise ExperimentError(f"{len(failed)} trial run(s) failed; first: {failed[0]}")

    def _skips(self, trial: TrialSpec, spec: TrialRunSpec) -> bool:
        """Whether the trial process would skip this trial run (as ``TrialRunner`` does):
        a trial whose every trial run is skipped needs no process."""
        latest = self.stored.latest(trial.name, spec.repeat)
        if self.fresh or state_of(latest) not in ("done", "stopped"):
            return False
        assert latest is not None
        recorded = tags_of(latest).get(CONFIG_HASH_TAG)
        return recorded is None or recorded == spec_hash(spec)

    def _process(self, top: ft.Run, trial: TrialSpec, imports: Sequence[str]) -> TrialProcess:
        command = [
            sys.executable,
            "-m",
            "ferrotrack.core.cli",
            "--root",
            str(self.root),
            "experiment",
            "run",
            str(self.config_dir),
            "--trial",
            trial.name,
            "--in-run",
            top.run_id,
            "--no-progress",
        ]
        if self.resume:
            command.append("--resume")
        for name in imports:
            command += ["--import", name]
        return TrialProcess(
            run_id=_folder(trial.name),
            output_dir=self.workspace / "executions" / top.run_id,
            name=trial.name,
            experiment=f"{self.experiment}{EXECUTIONS_SUFFIX}",
            command=command,
            config={"trial": trial.name, "config_dir": str(self.config_dir)},
            root=self.root,
            work_dir=Path.cwd(),
            env_vars={"PYTHONPATH": _python_path(), _EXECUTOR_ENV: self.spec.name},
            tags={EXPERIMENT_RUN_TAG: top.run_id, TRIAL_TAG: trial.name},
        )

    def _outcome(
        self,
        trial: TrialSpec,
        spec: TrialRunSpec,
        process: TrialProcess,
        ok: bool,
        after: StoredExperiment,
    ) -> TrialRunOutcome:
        """What the trial process did with one trial run, read from the store."""
        before = self.stored.latest(trial.name, spec.repeat)
        record = after.latest(trial.name, spec.repeat)
        why = _reason(process)
        if record is None or (before is not None and record.ref.run_id == before.ref.run_id):
            if record is not None and ok and not self.fresh and state_of(record) != "failed":
                return TrialRunOutcome(
                    trial.name, spec.repeat, RunStatus.SKIPPED, record.ref.run_id
                )
            text = (
                f"trial {trial.name!r}, repeat {spec.repeat}: its process ran no trial run: {why}"
            )
            return TrialRunOutcome(trial.name, spec.repeat, RunStatus.FAILED, None, text)
        run_id = record.ref.run_id
        if record.status in ("running", "crashed"):  # the process died under it
            text = f"trial {trial.name!r}, repeat {spec.repeat}: its process ended: {why}"
            self._close(record, text, after)
            return TrialRunOutcome(trial.name, spec.repeat, RunStatus.FAILED, run_id, text)
        if record.status == "finished":
            stopped = tags_of(record).get(OUTCOME_TAG) == RunStatus.STOPPED.value
            status = RunStatus.STOPPED if stopped else RunStatus.COMPLETED
            return TrialRunOutcome(trial.name, spec.repeat, status, run_id)
        return TrialRunOutcome(trial.name, spec.repeat, RunStatus.FAILED, run_id, _error_of(record))

    def _close(self, record: RunRecord, text: str, after: StoredExperiment) -> None:
        """Finishes as failed a trial run (and its trial's run) left open by a process
        that died, so that ``results()`` and ``status()`` say so."""
        targets = [record.ref.run_id]
        trial_run = after.trials.get(str(tags_of(record).get(TRIAL_TAG)))
        if trial_run is not None and trial_run.status in ("running", "crashed"):
            targets.append(trial_run.ref.run_id)
        for run_id in targets:
            try:
                run = ft.start_run(
                    experiment=self.experiment, root=self.root, run_id=run_id, resume=True
                )
            except Exception:  # another host may still write it: leave it to its writer
                self.logger.exception("cannot close run %s", run_id)
                continue
            if run_id == record.ref.run_id:
                run.set_tags({OUTCOME_TAG: RunStatus.FAILED.value})
            run.finish("failed", error=ExperimentError(text))


def _reason(process: TrialProcess) -> str:
    """Why the executor's run of ``process`` ended as it did, and where its output is."""
    run = process.tracked_run
    if process.held is not None:
        return process.held
    if run is None:
        return "the run backend started no run for it"
    reason = run.tags.get("ferrotrack.reason") or f"status {run.status}"
    return f"{reason} (its output: {run.run_dir / 'logs'})"


def _error_of(record: RunRecord) -> str | None:
    error = record.meta.get("error")
    if isinstance(error, Mapping):
        return f"{error.get('type')}({error.get('message')!r})"
    return None


def _python_path() -> str:
    """This process's ``sys.path``, so the trial process finds the modules we found."""
    entries = [p for p in sys.path if p and os.path.exists(p)]
    inherited = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*entries, *([inherited] if inherited else [])])


def _class_imports(trials: Sequence[TrialSpec]) -> list[str]:
    """What the trial process must import to know the classes these trials name that were
    registered here (pipelines, callbacks): the module by name, or its ``.py`` file when it
    is no importable module (``__main__``, a file imported by path)."""
    names: set[str] = set()
    for trial in trials:
        names.add(pipeline_type(trial))
        pipeline = trial.settings.get("pipeline")
        callbacks = pipeline.get("callbacks") if isinstance(pipeline, Mapping) else None
        for entry in callbacks if isinstance(callbacks, list) else ():
            if isinstance(entry, Mapping) and isinstance(entry.get("type"), str):
                names.add(entry["type"])
    imports: list[str] = []
    for name in sorted(names):
        cls = YAMLSerializable._registry.get(name)  # only what was registered in this process
        if cls is None or cls.__module__.startswith("ferrotrack."):
            continue
        module = sys.modules.get(cls.__module__)
        file = getattr(module, "__file__", None)
        target = cls.__module__ if _importable(cls.__module__, file) else file
        if target is not None and target not in imports:
            imports.append(target)
    return imports


def _importable(module: str, file: str | None) -> bool:
    """Whether ``import module`` finds ``file`` through ``sys.path`` (what the trial
    process searches), not through the modules already imported here."""
    from importlib.machinery import PathFinder

    if module == "__main__":
        return False
    top, _, rest = module.partition(".")
    try:
        found = PathFinder.find_spec(top)
    except (ImportError, ValueError):
        return False
    if found is None:
        return False
    return bool(rest) or file is None or found.origin == file


def _run_all(
    plugin: Any,
    processes: Sequence[TrialProcess],
    limit: int,
    options: Mapping[str, Any],
    *,
    stop_on_failure: bool = False,
) -> list[bool]:
    """Every trial process through the backend: core's :func:`run_many` (native fan-out
    where the backend has it, else a thread pool whose abort cancels what runs). With
    ``stop_on_failure`` (``on_error: raise``) each trial is handed over on its own, in a
    pool, and none is after the first one failed; those running finish."""
    if not stop_on_failure:
        return run_many(plugin, processes, max_concurrency=limit, **options)
    return run_many(_StopOnFailure(plugin), processes, max_concurrency=limit, **options)


class _StopOnFailure:
    """A backend with ``run`` only (so core's pool runs it, one trial at a time per slot)
    that hands no more trials over once one failed."""

    def __init__(self, plugin: Any) -> None:
        self._plugin = plugin
        self._failed: str | None = None

    def run(self, process: TrialProcess, **options: Any) -> bool:
        if self._failed is not None:
            process.held = f"not started: trial {self._failed!r} failed first (on_error: raise)"
            return False
        ok = bool(self._plugin.run(process, **options))
        if not ok and self._failed is None:
            self._failed = process.name
        return ok

    def cancel_all(self) -> None:
        cancel_all = getattr(self._plugin, "cancel_all", None)
        if callable(cancel_all):
            cancel_all()


# --- the other side: the trial process -----------------------------------------------------


def run_trial_process(
    experiment: Experiment,
    experiment_run: str,
    trials: Sequence[str],
    *,
    resume: bool = False,
    progress: bool | None = None,
) -> ExperimentOutcome:
    """Runs the named trials (exact names) as a process of ``experiment_run``, the latest
    experiment run, which another process started and ends: what ``--in-run`` does."""
    if not trials:
        raise ConfigError("--in-run needs the trials to run (--trial NAME)")
    known = {t.name: t for t in experiment.trials}
    for name in trials:
        if name not in known:
            raise UnknownNameError("trial", name, known)
    stored = find_experiment(experiment.root, experiment.name)
    if stored.run is None or stored.run.ref.run_id != experiment_run:
        raise ExperimentError(
            f"experiment {experiment.name!r}: run {experiment_run} is not its latest "
            f"experiment run (that is {stored.run.ref.run_id if stored.run else 'none'})"
        )
    top = ft.attach_run(stored.run.ref.path)  # this process is one of the experiment run's
    execution = os.environ.get(RUN_DIR_ENV)
    tags = {EXECUTOR_TAG: os.environ.get(_EXECUTOR_ENV, "?")}
    if execution:
        tags[EXECUTION_TAG] = Path(execution).name.removeprefix("run=")
    chosen = [known[name] for name in dict.fromkeys(trials)]
    outcome = ExperimentOutcome(experiment_run)
    env = experiment._environment(top)
    try:
        env.setup_environment()
        plan = [(trial, trial_runs([trial])) for trial in chosen]
        with TrialProgress(sum(len(s) for _, s in plan), enabled=progress) as bars:
            runner = experiment._trial_runner(
                env.logger, stored, outcome, bars, fresh=not resume, extra_tags=tags
            )
            for trial, specs in plan:
                runner.run_trial(trial, specs, env)
    finally:
        env.close()
        top.finish()  # a process's own rank: the experiment run stays open
    return outcome
