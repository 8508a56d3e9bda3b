"""``Experiment``: a config directory run as trials and repeats, each a ferrotrack run.

The store holds the whole hierarchy, so nothing else needs saving for a resume: the
experiment run (``ferrotrack.level=experiment``), a trial run per trial (its child) and a
trial-run run per attempt at a repeat (the trial run's child, params = the merged settings
plus ``repeat`` and ``seed``). ``run(resume=True)`` continues the latest experiment run:
trial runs whose latest attempt finished with the same settings are skipped, the others run
again as new runs (the failed attempt stays, for its traceback and whatever it logged).
``run(trials=[...])`` continues it too, running the selected trials' trial runs afresh.

This module reads and checks the config and starts the experiment run; the trials under it
are run by ``trial_runner``, each level's run and events by ``levels``, and what happened is
an ``outcome.ExperimentOutcome``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

import ferrotrack.core as ft
from ferrotrack.core.errors import RankInUseError
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.experiment.common import Level
from ferrotrack.experiment.config.expand import TrialRunSpec, TrialSpec, expand_trials, trial_runs
from ferrotrack.experiment.config.files import (
    BASE_FILE,
    ENV_FILE,
    EXPERIMENT_FILE,
    TRIALS_FILE,
    ConfigDir,
    load_config_dir,
)
from ferrotrack.experiment.environment import Environment
from ferrotrack.experiment.errors import ExperimentError, UnknownNameError
from ferrotrack.experiment.executor import TrialExecutor, executor_spec
from ferrotrack.experiment.factory import FactoryRegistry, FactoryType
from ferrotrack.experiment.levels import level_events, start_level_run
from ferrotrack.experiment.outcome import ExperimentOutcome, TrialRunOutcome
from ferrotrack.experiment.progress import TrialProgress
from ferrotrack.experiment.results import results_table, status_table
from ferrotrack.experiment.runs import LEVEL_TAG, StoredExperiment, find_experiment
from ferrotrack.experiment.trackers.tracker import Tracker
from ferrotrack.experiment.trackers.tracker_manager import TrackerManager
from ferrotrack.experiment.trial_config import check_pipelines
from ferrotrack.experiment.trial_runner import TrialRunner

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Experiment", "ExperimentOutcome", "TrialRunOutcome"]

CONFIG_FILES = (ENV_FILE, EXPERIMENT_FILE, BASE_FILE, TRIALS_FILE)


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
        self.env = self._environment(None)
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
        check_pipelines(config, trials, registry)
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
        executor: str | Mapping[str, Any] | None = None,
        max_concurrency: int | None = None,
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

        ``executor`` (default: ``env.yaml``'s ``executor``): a run backend of the entry-point
        group ``ferrotrack.run`` (``"local"``, ``"slurm"``... or ``{"type": ..., <its
        config>}``) that runs each trial in a process of its own, at most
        ``max_concurrency`` (default ``env.yaml``'s, else 4) at once; see ``executor.py``.
        """
        spec = executor_spec(
            executor if executor is not None else self.config.env.get("executor"),
            max_concurrency
            if max_concurrency is not None
            else self.config.env.get("max_concurrency"),
        )
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
        top = self._start_experiment_run(earlier)
        env = self._experiment_environment(top)
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
                level_events(env, top, Level.EXPERIMENT, outcome, name=self.name),
            ):
                if spec is not None:
                    TrialExecutor(
                        experiment=self.name,
                        config_dir=self.config.path,
                        root=self.root,
                        workspace=self.workspace,
                        spec=spec,
                        logger=env.logger,
                        stored=stored,
                        outcome=outcome,
                        bars=bars,
                        resume=resume,
                        fresh=trials is not None and not resume,
                        on_error=self.on_error,
                    ).run(top, plan)
                else:
                    runner = self._trial_runner(
                        env.logger, stored, outcome, bars, fresh=trials is not None and not resume
                    )
                    for trial, specs in plan:
                        runner.run_trial(trial, specs, env)
                env.logger.info("experiment %r: %s", self.name, outcome)
        finally:
            env.close()
        return outcome

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

    def _start_experiment_run(self, earlier: str | None) -> ft.Run:
        """The experiment run: a new one, or ``earlier`` continued; refused when another
        process started it between our look and our start."""
        try:
            return start_level_run(
                self.name,
                self.root,
                self.trackers,
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

    def _experiment_environment(self, top: ft.Run) -> Environment:
        """The config files saved into ``top`` and the experiment level's environment on
        it; if either fails, ``top`` ends failed."""
        try:
            self._save_config(top)
            env = self._environment(top)
            env.setup_environment()
        except BaseException as exc:
            top.finish("failed", error=exc)
            raise
        return env

    def _trial_runner(
        self,
        logger: logging.Logger,
        stored: StoredExperiment,
        outcome: ExperimentOutcome,
        bars: TrialProgress,
        *,
        fresh: bool,
        extra_tags: Mapping[str, str] | None = None,
    ) -> TrialRunner:
        """The ``TrialRunner`` of this experiment (in this process, or in a trial process
        that an executor started, whose runs carry ``extra_tags``)."""
        return TrialRunner(
            experiment=self.name,
            root=self.root,
            trackers=self.trackers,
            factory_registry=self.factory_registry,
            on_error=self.on_error,
            logger=logger,
            stored=stored,
            outcome=outcome,
            bars=bars,
            fresh=fresh,
            extra_tags=dict(extra_tags or {}),
        )

    def _environment(self, run: ft.Run | None) -> Environment:
        """The experiment level's environment (on ``run`` once one is started)."""
        return Environment(
            self.workspace,
            self.config.env,
            level=Level.EXPERIMENT,
            factory_registry=self.factory_registry,
            tracker_manager=TrackerManager(run, self.trackers, level=Level.EXPERIMENT),
            run=run,
            verbose=bool(self.config.env.get("verbose")),
            debug=bool(self.config.env.get("debug")),
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
