"""``FerrotrackLogger``: a Lightning ``Logger`` that writes to a ferrotrack run.

Imported on first use of the name (``ferrotrack.frameworks.lightning.FerrotrackLogger``),
because defining a ``Logger`` subclass imports Lightning; ``plugins list`` never gets here.
"""

from __future__ import annotations

import logging
import os
import sys
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError, RunExistsError
from ferrotrack.core.store import layout
from ferrotrack.frameworks._support import MetricSources, WarnOnce, as_number, settle
from ferrotrack.frameworks.lightning import _library
from ferrotrack.frameworks.lightning.checkpoints import CheckpointTracker
from ferrotrack.frameworks.lightning.options import checked_options
from ferrotrack.frameworks.lightning.params import to_params

_pl = _library.load()

if TYPE_CHECKING:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import Logger
    from lightning_utilities.core.rank_zero import rank_zero_only

    from ferrotrack.core.run import Run
else:
    Logger = _pl.loggers.Logger
    rank_zero_only = _pl.utilities.rank_zero.rank_zero_only
    ModelCheckpoint = Any
# The package in use's own (pytorch_lightning re-exports lightning_fabric's, not lightning's)
_DummyExperiment = _pl.loggers.logger.DummyExperiment

__all__ = ["RUN_ID_ENV", "FerrotrackLogger"]

RUN_ID_ENV = "FERROTRACK_LIGHTNING_RUN_ID"
"""How the process that launches the other ranks hands them the run id (``per_rank``)."""

_started_by_loggers: weakref.WeakSet[Run] = weakref.WeakSet()
"""Runs a FerrotrackLogger started: active, but never adopted by another logger (two
loggers on one trainer each keep their own run)."""

_shared_ids: list[str] = []
"""The per_rank run ids this process has handed out, in the order its loggers were made."""

_log = logging.getLogger("ferrotrack.frameworks.lightning")


class FerrotrackLogger(Logger):
    """Lightning's metrics, hyperparameters and checkpoints in a ferrotrack run.

    >>> trainer = Trainer(logger=FerrotrackLogger(experiment="mnist"))  # doctest: +SKIP

    The run is the active run when the logger is first used (one the user started; it is
    left open at the end), else
    one the logger starts itself (``run_name``, ``run_id``, ``root``, ``params``, ``tags``)
    and finishes when Lightning calls :meth:`finalize`; using the logger again after that
    (``trainer.test`` after ``trainer.fit``) resumes it. Only global rank 0 logs, unless
    ``per_rank=True``: then every process logs as its own ferrotrack rank of one run.
    """

    def __init__(
        self,
        experiment: str = "default",
        *,
        run_name: str | None = None,
        run_id: str | None = None,
        root: str | os.PathLike[str] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        log_checkpoints: bool | str = "last",
        per_rank: bool = False,
    ) -> None:
        super().__init__()
        self.options = checked_options(
            {
                "experiment": experiment,
                "run_name": run_name,
                "run_id": run_id,
                "root": root,
                "params": dict(params) if isinstance(params, Mapping) else params,
                "tags": dict(tags) if isinstance(tags, Mapping) else tags,
                "log_checkpoints": log_checkpoints,
                "per_rank": per_rank,
            }
        )
        self._run: Run | None = None
        self._owns = False
        self._run_id = run_id if run_id is not None else self._shared_run_id()
        self._sources = MetricSources(_library.PLUGIN, metadata={"via": "FerrotrackLogger"})
        self._checkpoints = CheckpointTracker()
        self._copied: tuple[Path, int, int] | None = None  # the "last" copy: path, mtime, size
        self.warn = WarnOnce(_library.PLUGIN)
        self.dropped = 0

    def _shared_run_id(self) -> str | None:
        """With ``per_rank``, the id all ranks share: made by the launching process (rank
        0) and inherited by the ranks Lightning starts from it through the environment.

        Lightning starts those ranks once, at the first ``fit``, by running the script
        again; they inherit the variable as it was then. So only the first per_rank logger
        of a process takes the variable's id; the n-th after it takes ``<that id>-<n>``, on
        every rank alike, instead of a later logger on rank 1 joining the first run.
        """
        if not self.options.per_rank:
            return None
        if _shared_ids:
            made = f"{_shared_ids[0]}-{len(_shared_ids)}"
        elif self.rank > 0:
            made = os.environ.get(RUN_ID_ENV, "")
            if not made:
                raise InvalidArgumentError(
                    f"FerrotrackLogger(per_rank=True) on rank {self.rank}: the run id of rank "
                    f"0 is unknown here (${RUN_ID_ENV} is not set); pass run_id=, the same on "
                    "every rank (for example from $TORCHELASTIC_RUN_ID or $SLURM_JOB_ID)"
                )
        else:  # a value inherited by the launching process is someone else's: a fresh id
            made = layout.new_run_id()
            os.environ[RUN_ID_ENV] = made
        _shared_ids.append(made)
        return made

    # ---- what Lightning asks ---------------------------------------------------------------

    _ferrotrack_logger = True  # LOGGER_MARK: the self.log capture stays out of our trainers

    @property
    def rank(self) -> int:
        """This process's global rank, as Lightning set it (``rank_zero_only.rank``)."""
        return int(getattr(rank_zero_only, "rank", 0) or 0)

    @property
    def name(self) -> str:
        """The ferrotrack experiment."""
        return self._run.experiment if self._run is not None else self.options.experiment

    @property
    def version(self) -> str:
        """The run id (checkpoints go under ``<default_root_dir>/<name>/<version>/``)."""
        if self._run is not None:
            return self._run.run_id
        if self._run_id is None:
            self._run_id = layout.new_run_id()
        return self._run_id

    @property
    def experiment(self) -> Any:
        """The ferrotrack :class:`~ferrotrack.core.Run` (started or joined on first use, and
        still this run after it finished: only logging resumes it); Lightning's do-nothing
        stand-in on ranks that do not log."""
        if not self._logs_here():
            return _DummyExperiment()
        if self._run is not None:
            return self._run  # finished or not: reading it never resumes it
        return self._target()

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Each numeric item as a point at ``step``; a non-number is warned about once per
        name and left out."""
        if not self._logs_here():
            return
        run = self._target()
        if run is None:
            self.dropped += len(metrics)
            return
        log = run.log
        for name, value in metrics.items():
            number = value if type(value) is float else as_number(value)
            if number is None:
                self.warn(
                    f"value:{name}",
                    f"FerrotrackLogger: metric {name!r} is a {type(value).__name__}, not a "
                    "number; left out",
                    stacklevel=4,
                )
                continue
            try:
                log(name, number, step)
            except Exception as exc:  # a refused name must not stop training
                self.warn(
                    f"log:{name}", f"FerrotrackLogger: metric {name!r} refused: {exc}", stacklevel=4
                )
                continue
            sources = self._sources
            if run is not sources.run or name not in sources.names:
                sources.note(run, name)  # once per run and name, written off this thread

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """``params`` (dict, ``AttributeDict`` or ``Namespace``) as the run's params, nested;
        values JSON cannot hold are stored as the nearest JSON value
        (:func:`~ferrotrack.frameworks.lightning.params.to_params`). Rank 0 only: params
        belong to the run, not to a rank."""
        if self.rank != 0:
            return
        converted = to_params(params)
        if not converted:
            return
        run = self._target()
        if run is None:
            self.dropped += 1
            return
        run.log_params(converted)

    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """A ``checkpoint`` event per new file; with ``log_checkpoints="all"`` also the file,
        copied under ``artifacts/checkpoints/``."""
        if self.rank != 0:
            return
        saved = self._checkpoints.new(checkpoint_callback)
        if not saved:
            return
        run = self._target()
        if run is None:
            self.dropped += len(saved)
            return
        for checkpoint in saved:
            artifact = None
            if self.options.log_checkpoints == "all":
                artifact = self._copy(run, checkpoint.path)
            run.log_event(
                "checkpoint",
                name=checkpoint.path.name,
                step=checkpoint.step,
                data=checkpoint.event_data(artifact),
            )

    def save(self) -> None:
        """Nothing: the run's writer flushes on its own thread (Lightning calls this after
        every logging step, so waiting for the disk here would slow training)."""

    def finalize(self, status: str) -> None:
        """Copies the newest checkpoint (``log_checkpoints="last"``), then finishes the run
        if the logger started it: ``success`` as finished, ``failed`` as failed (killed on
        Ctrl-C); another status (Lightning's SLURM requeue) only flushes."""
        run = self._run
        if run is None or not self._logs_here() or run.status != "running":
            return
        if self.options.log_checkpoints == "last" and self.rank == 0:
            self._copy_latest(run)
        settle()  # the metric facts in metrics.json before the run closes
        if not self._owns:
            return
        if status == "success":
            run.finish("finished")
        elif status == "failed":
            error = sys.exc_info()[1]
            if isinstance(error, KeyboardInterrupt):
                run.finish("killed", signal_name="SIGINT")
            else:
                run.finish("failed", error=error)
        else:
            run.flush()

    # ---- the run -------------------------------------------------------------------------

    def _logs_here(self) -> bool:
        return self.options.per_rank or self.rank == 0

    def _target(self) -> Run | None:
        """The open run to log into, opened or resumed if needed; ``None`` when the run was
        someone else's and is finished (warned once)."""
        run = self._run
        if run is not None and run.status == "running":
            return run
        if run is not None and not self._owns:
            self.warn(
                f"closed:{run.run_id}",
                f"FerrotrackLogger: run {run.run_id} was finished by its owner; what is logged "
                "to it now is dropped (counted in logger.dropped); everything logged before "
                "is kept. Start or resume a run to log more",
                stacklevel=5,
            )
            return None
        if run is None:
            active = ft.active_run()
            if active is not None and active not in _started_by_loggers:
                self._run, self._owns = active, False
                return active
        self._run = self._start(resume=run is not None)
        self._owns = True
        _started_by_loggers.add(self._run)
        return self._run

    def _start(self, *, resume: bool) -> Run:
        options = self.options
        rank = self.rank if options.per_rank else 0
        common: dict[str, Any] = {
            "experiment": options.experiment,
            "root": options.root,
            "run_id": self.version,
            "rank": rank,
        }
        if resume:
            _log.info("FerrotrackLogger: resuming run %s", common["run_id"])
            return ft.start_run(options.run_name, resume=True, **common)
        if rank == 0:  # params and tags belong to the run: rank 0 writes them
            common.update(params=options.params, tags=options.tags)
        try:
            return ft.start_run(options.run_name, **common)
        except RunExistsError:
            # A run_id given on purpose (a fit resumed from its checkpoint, a requeued Slurm
            # job, rank 0 of per_rank having made the run first): continue that run, as
            # MLFlowLogger(run_id=...) does, rather than failing the Trainer's setup.
            _log.info("FerrotrackLogger: run %s exists; resuming it", common["run_id"])
            return ft.start_run(options.run_name, resume=True, **common)

    def _copy_latest(self, run: Run) -> None:
        """Copies the newest checkpoint unless that very file is already in the run (each
        ``finalize``, after ``fit`` and again after ``test``, would copy it again)."""
        latest = self._checkpoints.latest
        if latest is None:
            return
        try:
            stat = latest.path.stat()
            signature = (latest.path, stat.st_mtime_ns, stat.st_size)
        except OSError:
            signature = None  # gone: _copy says so
        if signature is not None and signature == self._copied:
            return
        if self._copy(run, latest.path) is not None:
            self._copied = signature

    def _copy(self, run: Run, path: Path) -> str | None:
        name = f"checkpoints/{path.name}"
        try:
            run.log_artifact(path, name=name)
        except Exception as exc:  # a vanished file must not fail training
            self.warn(
                f"artifact:{path.name}",
                f"FerrotrackLogger: checkpoint {path} could not be copied: {exc}",
                stacklevel=5,
            )
            return None
        return name

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (``ddp_spawn``) without the open run: each process opens its own."""
        state = self.__dict__.copy()
        state["_run"], state["_owns"] = None, False
        del state["warn"], state["_sources"]  # hold locks; each process has its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.warn = WarnOnce(_library.PLUGIN)
        self._sources = MetricSources(_library.PLUGIN, metadata={"via": "FerrotrackLogger"})
