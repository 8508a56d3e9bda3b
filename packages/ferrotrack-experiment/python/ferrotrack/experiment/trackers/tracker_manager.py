"""``TrackerManager``: what a pipeline tracks, written into its ferrotrack run.

Scalars go to ``Run.log`` under the names of ``METRIC_NAMES`` (``Metric.TRAIN_LOSS`` is
``train/loss``); epoch averages under ``epoch/<name>`` with the epoch as step; levels,
checkpoints, artifacts and confusion matrices become run events. User trackers then see
the same calls, with the raw keys. Backends named in ``env.yaml`` are not called here at
all: they are handed to ``ft.start_run`` (:meth:`TrackerManager.backend_specs`) and fed by
ferrotrack's delivery from the store.

``track`` is on the training loop's path: one dict lookup, then ``Run.log``. Which checkpoint
file a network may overwrite and the artifact names live in ``checkpoints``; turning values
into names and JSON in ``values`` (``json_safe`` and ``metric_name`` re-exported here).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ferrotrack.core.errors import FerrotrackWarning, InvalidArgumentError
from ferrotrack.experiment.common import METRIC_NAMES, UNTRACKED_METRICS, Level, Metric
from ferrotrack.experiment.trackers.backend_tracker import BackendTracker
from ferrotrack.experiment.trackers.checkpoints import CheckpointFiles, workspace_path
from ferrotrack.experiment.trackers.tracker import Tracker
from ferrotrack.experiment.trackers.values import (
    as_integer,
    json_object,
    json_safe,
    matrix,
    metric_name,
    named_metrics,
    pairs,
    plain_params,
)

if TYPE_CHECKING:
    import ferrotrack.core as ft
    from ferrotrack.core.plugins import PluginBase

__all__ = ["TrackerManager", "TrackerWarning", "json_safe", "metric_name"]

_NAMES: dict[Any, str] = dict(METRIC_NAMES)
_EPOCH_NAMES: dict[Any, str] = {key: f"epoch/{name}" for key, name in METRIC_NAMES.items()}
_EPOCH_KEYS = ("epoch_id", "epoch_idx", "epoch")
_EPOCH: Final = Level.EPOCH
_LABELS: Final = {level: level.label for level in Level}
_MAX_CACHED_NAMES = 4096
"""How many ``str`` metric names one manager remembers for its fast path."""


class TrackerWarning(FerrotrackWarning):
    """A user tracker failed in a hook (the store has the data anyway), or a checkpoint
    file could not be found or written."""


class TrackerManager:
    """Tracks into ``run`` (one run per level that has one) and forwards to ``trackers``.

    ``workspace`` (set by the ``Environment``) is where relative checkpoint and artifact
    paths are found. A user tracker that raises is reported once per hook with a
    ``TrackerWarning`` and the work goes on.
    """

    def __init__(
        self,
        run: ft.Run | None = None,
        trackers: Sequence[Tracker] = (),
        *,
        level: Level = Level.EXPERIMENT,
    ) -> None:
        self.level = level
        self.workspace: Path | None = None
        self.pipeline: Any = None
        self._pipelines: list[Any] = []
        self._checkpoints = CheckpointFiles()
        self._names: dict[Any, str] = dict(_NAMES)
        self._trackers: list[Tracker] = []
        self._users: list[Tracker] = []
        self._log: Callable[..., None] | None = None
        self._run: ft.Run | None = None
        self._context: dict[Level, dict[str, Any]] = {}
        self._epoch: int | None = None
        self._next_epoch = 0
        self._warned: set[tuple[str, str]] = set()
        self.run = run
        for tracker in trackers:
            self.add_tracker(tracker)

    # ---- what it tracks into ------------------------------------------------------------

    @property
    def run(self) -> ft.Run | None:
        """The ferrotrack run of this level (``None``: only user trackers see the calls)."""
        return self._run

    @run.setter
    def run(self, run: ft.Run | None) -> None:
        self._run = run
        self._log = None if run is None else run.log
        self._warned.discard(("checkpoint", "missing"))

    @property
    def trackers(self) -> list[Tracker]:
        """The trackers (add them with :meth:`add_tracker`)."""
        return self._trackers

    def add_tracker(self, tracker: Tracker) -> None:
        """Adds a tracker; a ``BackendTracker`` only contributes to :meth:`backend_specs`."""
        if not isinstance(tracker, Tracker):
            raise InvalidArgumentError(
                f"add_tracker: expected a Tracker, got {type(tracker).__name__}"
            )
        self._trackers.append(tracker)
        if not isinstance(tracker, BackendTracker):
            self._users.append(tracker)

    def backend_specs(self) -> list[PluginBase]:
        """A fresh configured backend per ``BackendTracker``, for one ``ft.start_run(
        backends=...)``. Note that ``backends=[]`` turns off the backends of ferrotrack's
        settings: pass ``None`` when this is empty."""
        return [t.backend_spec() for t in self._trackers if isinstance(t, BackendTracker)]

    def create_child(
        self, run: ft.Run | None, *, level: Level, workspace: str | Path | None = None
    ) -> TrackerManager:
        """The manager of a nested level: each tracker's ``create_child``, the same
        workspace unless one is given."""
        children = []
        for tracker in self._trackers:
            try:
                children.append(tracker.create_child(workspace))
            except Exception as exc:
                self._tracker_failed(tracker, "create_child", exc)
                children.append(tracker)
        child = TrackerManager(run, children, level=level)
        child.workspace = Path(workspace) if workspace is not None else self.workspace
        return child

    def attach_pipeline(self, pipeline: Any) -> None:
        """The pipeline whose ``end_epoch`` runs at ``on_end(Level.EPOCH)``; a pipeline
        run from inside another one is attached on top and detached back to it."""
        self._pipelines.append(pipeline)
        self.pipeline = pipeline

    def detach_pipeline(self) -> None:
        """Forgets the pipeline attached last; the one under it is attached again."""
        if self._pipelines:
            self._pipelines.pop()
        self.pipeline = self._pipelines[-1] if self._pipelines else None

    # ---- metrics -----------------------------------------------------------------------

    def track(self, metric: Metric | str, value: Any, step: int | None = None) -> None:
        """Logs ``value`` under the name of ``metric`` (see ``METRIC_NAMES``); ``CUSTOM``
        pairs under their own names, ``CONFUSION`` as an event, untracked keys nowhere."""
        try:
            name = self._names[metric]
        except (KeyError, TypeError):  # not a scalar key yet (or unhashable)
            self._track_other(metric, value, step, None)
            return
        log = self._log
        if log is not None:
            log(name, value, step)
        if self._users:
            self._forward("track", metric, value, step)

    def _track_other(self, metric: Any, value: Any, step: int | None, prefix: str | None) -> None:
        if isinstance(metric, str):
            if prefix is None and len(self._names) < _MAX_CACHED_NAMES:
                self._names[metric] = metric  # the next call takes the fast path
            if self._log is not None:
                self._log(metric if prefix is None else prefix + metric, value, step)
        elif not isinstance(metric, Metric):
            raise InvalidArgumentError(
                f"track: expected a Metric or a metric name (str), got {metric!r}"
            )
        elif metric in UNTRACKED_METRICS:
            return
        elif metric is Metric.CUSTOM:
            custom = pairs(value)
            if self._log is not None:
                for name, item in custom:
                    self._log(name if prefix is None else prefix + name, item, step)
        elif metric is Metric.CONFUSION:
            if self._run is not None:
                self._run.log_event(
                    "confusion",
                    name="confusion" if prefix is None else prefix + "confusion",
                    step=step,
                    data={"matrix": matrix(value)},
                )
        else:  # a Metric with no name of its own: none today
            raise InvalidArgumentError(f"track: {metric!r} has no metric name")
        if self._users:
            self._forward("track", metric, value, step)

    def track_dict(self, metrics: Mapping[Metric | str, Any], step: int | None = None) -> None:
        """:meth:`track` of each item."""
        for metric, value in metrics.items():
            self.track(metric, value, step)

    def track_epoch(self, metrics: Mapping[Metric | str, Any], epoch: int) -> None:
        """Epoch results under ``epoch/<name>`` with step ``epoch``, so that they never
        share a series with the batch-level ``train/loss``."""
        for metric, value in metrics.items():
            try:
                name = _EPOCH_NAMES.get(metric)
            except TypeError:
                name = None
            if name is None:
                self._track_other(metric, value, epoch, "epoch/")
                continue
            if self._log is not None:
                self._log(name, value, epoch)
            if self._users:
                self._forward("track", metric, value, epoch)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merges ``params`` into the run's params (an omegaconf config is fine)."""
        plain = plain_params(params)
        if self._run is not None:
            self._run.log_params(plain)
        if self._users:
            self._forward("log_params", plain)

    # ---- levels ----------------------------------------------------------------------

    # The level hooks run a few times per epoch: no copies of ``ctx`` (``**ctx`` is a new
    # dict already), enum members read from module globals.

    def on_create(self, level: Level, *args: Any, **ctx: Any) -> None:
        """Remembers ``ctx`` (``epoch_id=`` for an epoch) for the level's start and end;
        records nothing."""
        self._context[level] = ctx
        if level is _EPOCH:
            found = _epoch_of(ctx) if ctx else None
            self._epoch = self._next_epoch if found is None else found
        if self._users:
            self._forward("on_create", level, *args, **ctx)

    def on_start(self, level: Level, *args: Any, **ctx: Any) -> None:
        """Records a ``level_start`` event (step: the epoch index for an epoch)."""
        created = self._context.get(level)
        info = ({**created, **ctx} if ctx else created) if created else ctx
        step = None
        if level is _EPOCH:
            found = _epoch_of(ctx) if ctx else None
            if found is not None:
                self._epoch = found
            elif self._epoch is None:
                self._epoch = self._next_epoch
            step = self._epoch
        if self._run is not None:
            self._event("level_start", level, info, step)
        if self._users:
            self._forward("on_start", level, *args, **ctx)

    def on_end(self, level: Level, *args: Any, **ctx: Any) -> None:
        """Ends a level: for an epoch with a pipeline attached, its ``end_epoch`` first
        (epoch metrics, callbacks; it may raise ``StopTraining``), then a ``level_end``
        event (with ``status`` when given) and the trackers' ``on_end``."""
        created = self._context.pop(level, None)
        info = {**created, **ctx} if created else ctx
        step = None
        if level is _EPOCH:
            found = _epoch_of(ctx) if ctx else None
            step = found if found is not None else self._epoch
            step = self._next_epoch if step is None else step
            self._epoch = step
        try:
            if step is not None and self.pipeline is not None:
                self.pipeline.end_epoch(step)
        except BaseException as exc:
            info.setdefault("ended_by", type(exc).__name__)
            reason = getattr(exc, "reason", None)
            if isinstance(reason, str):
                info.setdefault("reason", reason)
            raise
        finally:
            if step is not None:  # an epoch
                self._epoch = None
                self._next_epoch = step + 1
            if self._run is not None:
                self._event("level_end", level, info, step)
            if self._users:
                self._forward("on_end", level, *args, **ctx)
                if level is self.level:
                    self._forward("save")

    def _event(self, kind: str, level: Level, info: dict[str, Any], step: int | None) -> None:
        assert self._run is not None
        name = info.get("name")
        self._run.log_event(
            kind,
            name=name if isinstance(name, str) else None,
            level=_LABELS[level],
            step=step,
            data=json_object(info),
        )

    # ---- files -------------------------------------------------------------------------

    def on_checkpoint(
        self,
        network: Any,
        checkpoint_path: str | Path,
        metrics: Mapping[Any, Any] | None = None,
        **ctx: Any,
    ) -> None:
        """Records a checkpoint: saves ``network`` (when given) to ``checkpoint_path`` (a
        torch ``state_dict`` when possible, else pickle), makes the file an artifact under
        ``checkpoints/``, and records a ``checkpoint`` event with the step and ``metrics``
        (by metric name). A file the user's code wrote during this run is kept as it is
        (the guides save it themselves, then pass the network too); a file this manager
        wrote, or one older than the run (an earlier attempt's), is replaced by
        ``network``."""
        path = workspace_path(checkpoint_path, self.workspace)
        data: dict[str, Any] = {"path": str(checkpoint_path)}
        if self._checkpoints.should_save(network, path):
            error = self._checkpoints.save(network, path)
            data["saved"] = error is None
            if error is not None:
                data["error"] = error
                self._warn_once(
                    ("checkpoint", "save"), f"could not save the network to {path}: {error}"
                )
        step = as_integer(ctx.pop("step", None))
        step = self._epoch if step is None else step
        if self._run is not None:
            if path.is_file() or path.is_dir():
                target = self._run.log_artifact(
                    path, name=self._checkpoints.artifact_name(path, self.workspace)
                )
                data["artifact"] = target.relative_to(self._run.run_dir / "artifacts").as_posix()
            elif network is None:
                self._warn_once(
                    ("checkpoint", "missing"),
                    f"checkpoint {path} does not exist and no network was given to save: "
                    "only the checkpoint event is recorded (warned once per run)",
                )
            if metrics is not None:
                data["metrics"] = json_safe(named_metrics(metrics))
            data.update(json_safe(ctx))
            self._run.log_event(
                "checkpoint",
                name=path.name,
                level=Level.EPOCH.label if self._epoch is not None else self.level.label,
                step=step,
                data=data,
            )
        self._forward("on_checkpoint", network, str(path), metrics, **ctx)

    def on_add_artifact(
        self,
        level: Level,
        artifact_path: str | Path,
        artifact_type: str | None = None,
        **ctx: Any,
    ) -> None:
        """Copies the file (or folder) into the run's artifacts and records an ``artifact``
        event with its type."""
        path = workspace_path(artifact_path, self.workspace)
        if self._run is not None:
            name = ctx.pop("name", None)
            target = self._run.log_artifact(path, name=name if isinstance(name, str) else None)
            stored = target.relative_to(self._run.run_dir / "artifacts").as_posix()
            self._run.log_event(
                "artifact",
                name=stored,
                level=level.label,
                data={"type": artifact_type, "path": str(artifact_path), **json_safe(ctx)},
            )
        self._forward("on_add_artifact", level, str(path), artifact_type, **ctx)

    # ---- user trackers -------------------------------------------------------------------

    def _forward(self, hook: str, *args: Any, **kwargs: Any) -> None:
        for tracker in self._users:
            try:
                getattr(tracker, hook)(*args, **kwargs)
            except Exception as exc:
                self._tracker_failed(tracker, hook, exc)

    def _tracker_failed(self, tracker: Tracker, hook: str, exc: Exception) -> None:
        self._warn_once(
            (type(tracker).__qualname__, hook),
            f"tracker {type(tracker).__qualname__}.{hook} raised {type(exc).__name__}: {exc}; "
            "it is skipped for this call (the run's store has the data; warned once)",
        )

    def _warn_once(self, key: tuple[str, str], message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, TrackerWarning, stacklevel=4)


def _epoch_of(ctx: Mapping[str, Any]) -> int | None:
    found = ctx.get("epoch_id")
    if type(found) is int:
        return found
    for key in _EPOCH_KEYS:
        value = as_integer(ctx.get(key))
        if value is not None:
            return value
    return None
