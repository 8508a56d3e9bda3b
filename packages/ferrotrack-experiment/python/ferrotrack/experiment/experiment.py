"""``Experiment``: a config directory run as trials and repeats, each a ferrotrack run.

The store holds the whole hierarchy, so nothing else needs saving for a resume: the
experiment run (``ferrotrack.level=experiment``), a trial run per trial (its child) and a
trial-run run per attempt at a repeat (the trial run's child, params = the merged settings
plus ``repeat`` and ``seed``). ``run(resume=True)`` continues the latest experiment run:
trial runs whose latest attempt finished with the same settings are skipped, the others run
again as new runs (the failed attempt stays, for its traceback and whatever it logged).
``run(trials=[...])`` continues it too, running the selected trials' trial runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from omegaconf import OmegaConf

import ferrotrack.core as ft
from ferrotrack.core.errors import RankInUseError
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.experiment.common import Level, RunStatus, store_status
from ferrotrack.experiment.config.expand import (
    TrialRunSpec,
    TrialSpec,
    expand_trials,
    trial_runs,
)
from ferrotrack.experiment.config.files import (
    BASE_FILE,
    ENV_FILE,
    EXPERIMENT_FILE,
    TRIALS_FILE,
    ConfigDir,
    load_config_dir,
)
from ferrotrack.experiment.environment import Environment
from ferrotrack.experiment.errors import ConfigError, ExperimentError, UnknownNameError
from ferrotrack.experiment.factory import FactoryRegistry, FactoryType
from ferrotrack.experiment.pipelines.pipeline import StopTraining
from ferrotrack.experiment.pipelines.pipeline_factory import PipelineFactory, pipeline_class
from ferrotrack.experiment.progress import TrialProgress
from ferrotrack.experiment.results import results_table, status_table
from ferrotrack.experiment.runs import (
    CONFIG_HASH_TAG,
    LEVEL_TAG,
    OUTCOME_TAG,
    REPEAT_TAG,
    SEED_TAG,
    STOP_REASON_TAG,
    TRIAL_TAG,
    StoredExperiment,
    find_experiment,
    state_of,
    tags_of,
)
from ferrotrack.experiment.trackers.tracker import Tracker
from ferrotrack.experiment.trackers.tracker_manager import TrackerManager

if TYPE_CHECKING:
    import polars as pl
    from omegaconf import DictConfig

__all__ = ["Experiment", "ExperimentOutcome", "TrialRunOutcome"]

CONFIG_FILES = (ENV_FILE, EXPERIMENT_FILE, BASE_FILE, TRIALS_FILE)


@dataclass(frozen=True)
class TrialRunOutcome:
    """How one repeat of one trial went in one ``run()``."""

    trial: str
    repeat: int
    status: RunStatus
    run_id: str | None
    """The trial-run run (for a skipped one, the earlier run that finished it)."""
    error: str | None = None

    @property
    def label(self) -> str:
        """``<trial>/<repeat>``, the run's name."""
        return f"{self.trial}/{self.repeat}"


@dataclass
class ExperimentOutcome:
    """What ``Experiment.run`` did, trial run by trial run."""

    run_id: str
    """The experiment run."""
    completed: list[TrialRunOutcome] = field(default_factory=list)
    stopped: list[TrialRunOutcome] = field(default_factory=list)
    failed: list[TrialRunOutcome] = field(default_factory=list)
    skipped: list[TrialRunOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No trial run failed."""
        return not self.failed

    @property
    def counts(self) -> dict[str, int]:
        """How many trial runs completed, stopped early, failed, were skipped."""
        return {
            "completed": len(self.completed),
            "stopped": len(self.stopped),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
        }

    def add(self, outcome: TrialRunOutcome) -> None:
        """Files ``outcome`` under its status."""
        {
            RunStatus.COMPLETED: self.completed,
            RunStatus.STOPPED: self.stopped,
            RunStatus.SKIPPED: self.skipped,
        }.get(outcome.status, self.failed).append(outcome)

    def __str__(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())


@dataclass(frozen=True)
class _Call:
    """What the trials of one ``run()`` share."""

    stored: StoredExperiment
    outcome: ExperimentOutcome
    bars: TrialProgress
    fresh: bool = False
    """Run every trial run given, finished or not (the trials a ``run(trials=...)`` named)."""


class Experiment:
    """An experiment described by a config directory; see ``create``."""

    def __init__(
        self,
        config: ConfigDir,
        trials: Sequence[TrialSpec],
        *,
        root: Path,
        factory_registry: FactoryRegistry,
        trackers: Sequence[Tracker] = (),
    ) -> None:
        self.config = config
        self.name: str = config.experiment["name"]
        self.id: int | str | None = config.experiment.get("id")
        self.desc: str = config.experiment.get("desc") or ""
        self.trials: list[TrialSpec] = list(trials)
        self.root = root
        self.factory_registry = factory_registry
        self.trackers: list[Tracker] = list(trackers)
        self.workspace = Path(config.env["workspace"])
        self.on_error: str = config.env.get("on_error", "continue")
        self.last_outcome: ExperimentOutcome | None = None
        """The outcome of the latest ``run()`` so far, also when it raised."""
        self.env = Environment(
            self.workspace,
            config.env,
            level=Level.EXPERIMENT,
            factory_registry=factory_registry,
            tracker_manager=self._tracker_manager(None),
            verbose=bool(config.env.get("verbose")),
            debug=bool(config.env.get("debug")),
        )
        self.env.setup_environment()

    @classmethod
    def create(
        cls,
        config_dir: str | Path,
        factory_registry: FactoryRegistry | None = None,
        *,
        root: str | Path | None = None,
    ) -> Experiment:
        """Reads and checks ``config_dir`` and builds its trackers; runs nothing.

        ``root`` (the store) defaults to ``env.yaml``'s ``root``, else ferrotrack's settings.
        Raises ``ConfigError`` for a bad file, ``UnknownNameError`` for a pipeline or tracker
        name nothing registered (listing those that are).
        """
        config = load_config_dir(config_dir)
        trials = expand_trials(config)
        trial_runs(trials)  # a seed that is no integer is a ConfigError now, not mid-run
        registry = factory_registry if factory_registry is not None else FactoryRegistry()
        _check_pipelines(config, trials, registry)
        store = resolve_root(root if root is not None else config.env.get("root")).resolve()
        tracker_factory = registry.get(FactoryType.TRACKER)
        workspace = Path(config.env["workspace"])
        trackers = [
            tracker_factory.create(entry["type"], OmegaConf.create(entry), workspace)
            for entry in config.env.get("trackers") or ()
        ]
        return cls(config, trials, root=store, factory_registry=registry, trackers=trackers)

    # --- what is there -------------------------------------------------------------------

    def trial_runs(self, trials: Sequence[str] | None = None) -> list[TrialRunSpec]:
        """Every trial run the config asks for (of the named trials), in order."""
        return trial_runs(self._select(trials))

    def stored(self) -> StoredExperiment:
        """The latest experiment run in the store and the runs under it."""
        return find_experiment(self.root, self.name)

    def status(self) -> pl.DataFrame:
        """One row per trial run: trial, repeat, state (done, failed, stopped, running,
        pending), the run id of its latest attempt, and how many attempts there were."""
        expected = [(s.trial.name, s.repeat) for s in self.trial_runs()]
        return status_table(self.root, self.name, expected)

    def results(self) -> pl.DataFrame:
        """One row per trial run of the latest experiment run (its latest attempt): trial,
        repeat, run_id, status, ``params.*`` and the last value of each metric."""
        return results_table(self.root, self.name, [t.name for t in self.trials])

    # --- running ---------------------------------------------------------------------------

    def run(
        self,
        *,
        resume: bool = False,
        trials: Sequence[str] | None = None,
        progress: bool | None = None,
    ) -> ExperimentOutcome:
        """Runs every trial run (of ``trials`` if given: names, or a base name for all its
        expansions), each as a ferrotrack run, and returns what happened.

        With ``resume``, the latest experiment run is continued and trial runs whose latest
        attempt finished with the same settings (``ferrotrack.config_hash``) are skipped.
        With ``trials`` (and no ``resume``), the latest experiment run is continued too and
        the selected trials' trial runs run again, finished or not; the others stay as they
        are. A failing trial run (or one whose run cannot start) is recorded with its error;
        ``env.yaml``'s ``on_error: raise`` then re-raises it, ``continue`` (the default)
        goes on with the others. ``progress``: bars on stderr (``None``: when a terminal).
        Refused (ExperimentError) while another process runs this experiment.
        """
        chosen = self._select(trials)
        latest = self.stored()
        if latest.run is not None and latest.run.status == "running":
            meta = latest.run.meta
            raise ExperimentError(
                f"experiment {self.name!r}: its run {latest.run.ref.run_id} is still running "
                f"(pid {meta.get('pid')} on {meta.get('host')}); wait for it or stop it first"
            )
        stored = latest if resume or trials is not None else StoredExperiment(None)
        plan = [(trial, trial_runs([trial])) for trial in chosen]
        earlier = stored.run.ref.run_id if stored.run is not None else None
        try:
            top = self._start(
                earlier,
                name=self.name,
                params={
                    "experiment_id": self.id,
                    "desc": self.desc,
                    "config_dir": str(self.config.path),
                },
                tags={LEVEL_TAG: "experiment"},
            )
        except RankInUseError as exc:  # it started between our look and our start
            raise ExperimentError(
                f"experiment {self.name!r}: another process is running this experiment "
                f"(its run {earlier} is being written); wait for it or stop it first"
            ) from exc
        try:
            self._save_config(top)
            env = Environment(
                self.workspace,
                self.config.env,
                level=Level.EXPERIMENT,
                factory_registry=self.factory_registry,
                tracker_manager=self._tracker_manager(top),
                run=top,
                verbose=bool(self.config.env.get("verbose")),
                debug=bool(self.config.env.get("debug")),
            )
            env.setup_environment()
        except BaseException as exc:
            top.finish("failed", error=exc)
            raise
        self.env.close()
        self.env = env
        outcome = self.last_outcome = ExperimentOutcome(top.run_id)
        total = sum(len(specs) for _, specs in plan)
        env.logger.info(
            "%s experiment %r: %d trial(s), %d trial run(s) (run %s)",
            "resuming" if stored.run is not None else "starting",
            self.name,
            len(chosen),
            total,
            top.run_id,
        )
        try:
            with (
                TrialProgress(total, enabled=progress) as bars,
                _level(env, top, Level.EXPERIMENT, outcome, name=self.name),
            ):
                call = _Call(stored, outcome, bars, fresh=trials is not None and not resume)
                for trial, specs in plan:
                    self._run_trial(trial, specs, env, call)
                env.logger.info("experiment %r: %s", self.name, outcome)
        finally:
            env.close()
        return outcome

    def _run_trial(
        self, trial: TrialSpec, specs: Sequence[TrialRunSpec], parent_env: Environment, at: _Call
    ) -> None:
        todo: list[TrialRunSpec] = []
        for spec in specs:
            latest = at.stored.latest(trial.name, spec.repeat)
            if not at.fresh and state_of(latest) in ("done", "stopped"):
                assert latest is not None
                recorded = tags_of(latest).get(CONFIG_HASH_TAG)
                if recorded is None or recorded == _spec_hash(spec):  # None: an older run
                    at.outcome.add(
                        TrialRunOutcome(
                            trial.name, spec.repeat, RunStatus.SKIPPED, latest.ref.run_id
                        )
                    )
                    at.bars.skipped(spec.name)
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
        earlier = at.stored.trials.get(trial.name)
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
                self._not_started(spec, at, exc, "its trial's run could not start", None)
            return
        try:
            env = _child(parent_env, _folder(trial.name), level=Level.TRIAL, run=trial_run)
        except Exception as exc:  # the trial's run is in the store, failed with the error
            for spec in todo:
                self._not_started(spec, at, exc, "its trial's folder could not be made", None)
            return
        try:
            with _level(
                env, trial_run, Level.TRIAL, at.outcome, name=trial.name, trial_id=trial.id
            ):
                for spec in todo:
                    self._run_trial_run(spec, env, at)
        finally:
            env.close()

    def _run_trial_run(self, spec: TrialRunSpec, parent_env: Environment, at: _Call) -> None:
        """One attempt at one repeat: its run, its environment, the pipeline, the outcome."""
        trial, repeat, seed = spec.trial.name, spec.repeat, spec.seed
        config, params, config_error = _trial_run_config(spec)
        tags = {LEVEL_TAG: "trial_run", TRIAL_TAG: trial, REPEAT_TAG: repeat, SEED_TAG: seed}
        tags[CONFIG_HASH_TAG] = _params_hash(params)
        try:
            run = self._start(None, name=spec.name, params=params, tags=tags, parent=parent_env.run)
        except Exception as exc:
            self._not_started(spec, at, exc, "its run could not start", None)
            return
        try:
            env = _child(
                parent_env, f"repeat-{repeat}", level=Level.TRIAL_RUN, run=run, config=config
            )
        except Exception as exc:  # the run is in the store, failed with the error
            self._not_started(spec, at, exc, "its folder could not be made", run.run_id)
            return
        manager = env.tracker_manager
        status, reason = RunStatus.FAILED, None
        error: BaseException | None = None
        try:
            at.bars.start(spec.name, _epochs(config), manager)
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
                at.bars.finished(spec.name, status.value)
                text = None if error is None else repr(error)
                at.outcome.add(TrialRunOutcome(trial, repeat, status, run.run_id, text))
        if error is not None and self.on_error == "raise":
            raise error

    def _not_started(
        self,
        spec: TrialRunSpec,
        at: _Call,
        exc: Exception,
        what: str,
        run_id: str | None,
    ) -> None:
        """A trial run that never got to its pipeline: failed, naming the trial; the others
        go on (``on_error: raise``: an ExperimentError, after recording)."""
        text = f"trial {spec.trial.name!r}, repeat {spec.repeat}: {what}: {exc!r}"
        self.env.logger.error("%s", text)
        at.bars.finished(spec.name, RunStatus.FAILED.value)
        at.outcome.add(
            TrialRunOutcome(spec.trial.name, spec.repeat, RunStatus.FAILED, run_id, text)
        )
        if self.on_error == "raise":
            raise ExperimentError(text) from exc

    def _run_pipeline(
        self, spec: TrialRunSpec, config: DictConfig, env: Environment
    ) -> tuple[RunStatus, str | None]:
        """Seeds, builds the pipeline with the registry's factory and runs it; returns how
        it ended (completed or stopped, with the stop's reason)."""
        _seed_everything(spec.seed)
        factory = self.factory_registry.get(FactoryType.PIPELINE)
        pipeline = factory.create(_pipeline_type(spec.trial), config, env)
        try:
            pipeline.run(config)
        except StopTraining as stop:  # a pipeline without run_wrapper let the stop through
            return RunStatus.STOPPED, stop.reason
        reason = getattr(pipeline, "stop_reason", None)
        return _pipeline_status(pipeline), None if reason is None else str(reason)

    # --- helpers -------------------------------------------------------------------------

    def _select(self, names: Sequence[str] | None) -> list[TrialSpec]:
        if names is None:
            return list(self.trials)
        if isinstance(names, str):
            names = [names]
        wanted: set[str] = set()
        for name in names:
            found = [t.name for t in self.trials if t.name == name or t.name.startswith(name + "[")]
            if not found:
                raise UnknownNameError("trial", name, [t.name for t in self.trials])
            wanted.update(found)
        return [t for t in self.trials if t.name in wanted]

    def _tracker_manager(self, run: ft.Run | None) -> TrackerManager:
        return TrackerManager(run, self.trackers, level=Level.EXPERIMENT)

    def _start(
        self,
        earlier: str | None,
        *,
        name: str,
        params: Mapping[str, Any],
        tags: Mapping[str, Any],
        parent: ft.Run | None = None,
    ) -> ft.Run:
        """A new run, or the ``earlier`` one continued; every run gets fresh instances of
        the backends ``env.yaml`` names (a backend instance serves one run)."""
        specs = TrackerManager(None, self.trackers).backend_specs() if self.trackers else []
        backends = specs or None  # [] would turn off the backends of ferrotrack's settings
        if earlier is not None:
            return ft.start_run(
                experiment=self.name,
                root=self.root,
                run_id=earlier,
                resume=True,
                tags=tags,
                backends=backends,
            )
        return ft.start_run(
            name,
            experiment=self.name,
            root=self.root,
            params=params,
            tags=tags,
            parent=parent,
            backends=backends,
        )

    def _save_config(self, run: ft.Run) -> None:
        """The config files as they were for this run (a resume records the fixed ones)."""
        for file in CONFIG_FILES:
            path = self.config.path / file
            if path.is_file():
                run.log_artifact(path, name=f"config/{file}")

    def __repr__(self) -> str:
        return (
            f"Experiment(name={self.name!r}, trials={len(self.trials)}, "
            f"config_dir={str(self.config.path)!r}, root={str(self.root)!r})"
        )


@contextmanager
def _level(
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


def _child(
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


def _check_pipelines(
    config: ConfigDir, trials: Sequence[TrialSpec], registry: FactoryRegistry
) -> None:
    """Every trial names a pipeline type; with the default factory, a registered one."""
    default = type(registry.get(FactoryType.PIPELINE)) is PipelineFactory
    for trial in trials:
        try:
            name = _pipeline_type(trial)
        except ConfigError as exc:
            raise ConfigError(
                f"trial {trial.name!r} names no pipeline; expected settings.pipeline.type "
                f"(in {EXPERIMENT_FILE}, base.yaml or trials.yaml) to be a registered pipeline",
                file=config.file(EXPERIMENT_FILE),
                key="settings.pipeline.type",
            ) from exc
        if default:
            try:
                pipeline_class(name)
            except UnknownNameError as exc:
                exc.args = (f"trial {trial.name!r}: {exc.args[0]}",)
                raise


def _pipeline_type(trial: TrialSpec) -> str:
    section = trial.settings.get("pipeline")
    name = section.get("type") if isinstance(section, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"trial {trial.name!r}: expected settings.pipeline.type, a name")
    return name


def _trial_run_config(
    spec: TrialRunSpec,
) -> tuple[DictConfig | None, dict[str, Any], ConfigError | None]:
    """The trial run's config and params; a config that cannot be built still gives params
    (the raw settings) so that the run is recorded, failed with the error."""
    try:
        config = spec.config()
    except ConfigError as exc:
        return None, {**spec.trial.settings, "repeat": spec.repeat, "seed": spec.seed}, exc
    return config, _container(config), None


def _pipeline_status(pipeline: Any) -> RunStatus:
    status = getattr(pipeline, "status", None)
    if status is RunStatus.STOPPED:
        return RunStatus.STOPPED
    if status in (RunStatus.FAILED, RunStatus.ABORTED):
        return RunStatus.FAILED
    return RunStatus.COMPLETED  # COMPLETED, or RUNNING from a pipeline without run_wrapper


def _container(config: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(config, resolve=True)
    assert isinstance(data, dict)
    return {str(k): v for k, v in data.items()}


def _epochs(config: DictConfig | None) -> int | None:
    if config is None:
        return None
    epochs = OmegaConf.select(config, "pipeline.epochs", default=None)
    return epochs if isinstance(epochs, int) and epochs > 0 else None


def _seed_everything(seed: int) -> None:
    """Seeds ``random``, and numpy and torch when the process already imported them.

    ``import_module`` rather than ``sys.modules``: another thread (a backend loading pyarrow)
    may be importing numpy right now, and only the import waits until it is complete.
    """
    random.seed(seed)
    if "numpy" in sys.modules:
        import_module("numpy").random.seed(seed % 2**32)
    if "torch" in sys.modules:
        import_module("torch").manual_seed(seed)


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


def _params_hash(params: Mapping[str, Any]) -> str:
    """A stable hash of a trial run's resolved params (key order does not count), recorded
    as ``ferrotrack.config_hash``: a resume reruns a finished trial run whose settings
    changed."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _spec_hash(spec: TrialRunSpec) -> str:
    """``_params_hash`` of the params the trial run would get now. Settings without an
    interpolation are their own resolved form, which skips omegaconf (10,000 trial runs
    resume in well under a second)."""
    settings = spec.trial.settings
    if "${" not in json.dumps(settings, default=str):
        return _params_hash({**settings, "repeat": spec.repeat, "seed": spec.seed})
    return _params_hash(_trial_run_config(spec)[1])
