"""``TrackerManager``: what a pipeline tracks, written into its ferrotrack run.

Scalars go to ``Run.log`` under the names of ``METRIC_NAMES`` (``Metric.TRAIN_LOSS`` is
``train/loss``); epoch averages under ``epoch/<name>`` with the epoch as step; levels,
checkpoints, artifacts and confusion matrices become run events. User trackers then see
the same calls, with the raw keys. Backends named in ``env.yaml`` are not called here at
all: they are handed to ``ft.start_run`` (:meth:`TrackerManager.backend_specs`) and fed by
ferrotrack's delivery from the store.

``track`` is on the training loop's path: one dict lookup, then ``Run.log``.
"""

from __future__ import annotations

import importlib
import math
import operator
import pickle
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ferrotrack.core.errors import FerrotrackWarning, InvalidArgumentError
from ferrotrack.experiment.common import METRIC_NAMES, UNTRACKED_METRICS, Level, Metric, RunStatus
from ferrotrack.experiment.trackers.backend_tracker import BackendTracker
from ferrotrack.experiment.trackers.tracker import Tracker

if TYPE_CHECKING:
    import ferrotrack.core as ft
    from ferrotrack.core.plugins import PluginBase

__all__ = ["TrackerManager", "TrackerWarning", "json_safe", "metric_name"]

_NAMES: dict[Any, str] = dict(METRIC_NAMES)
_EPOCH_NAMES: dict[Any, str] = {key: f"epoch/{name}" for key, name in METRIC_NAMES.items()}
_EPOCH_KEYS = ("epoch_id", "epoch_idx", "epoch")
_EPOCH: Final = Level.EPOCH
_LABELS: Final = {level: level.label for level in Level}
_PLAIN: Final = frozenset({str, int, bool, type(None)})
_MAX_CACHED_NAMES = 4096
"""How many ``str`` metric names one manager remembers for its fast path."""


class TrackerWarning(FerrotrackWarning):
    """A user tracker failed in a hook (the store has the data anyway), or a checkpoint
    file could not be found or written."""


def metric_name(metric: Metric | str) -> str | None:
    """The name ``metric`` is stored under: ``METRIC_NAMES`` for scalar keys, the string
    itself for a ``str``; ``None`` for keys that are not one scalar series (``CUSTOM``
    carries its own names, ``CONFUSION`` is an event, the untracked keys are never stored)."""
    if isinstance(metric, str):
        return metric
    return _NAMES.get(metric)


def json_safe(value: Any) -> Any:
    """``value`` as JSON data for an event: enums by their names (``Metric`` keys by their
    metric names), numpy values as Python ones, anything else by a short ``repr``."""
    if isinstance(value, Enum):  # first: IntEnum members are ints too
        return _enum_text(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {_key_text(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist):
        try:
            return json_safe(tolist())
        except Exception:  # a failing tolist(): fall back to the repr below
            pass
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _json_object(data: dict[str, Any]) -> dict[str, Any]:
    """``json_safe`` of event data, skipping the walk when every value is a plain scalar
    (an epoch's ``{"epoch_id": 3}``)."""
    for value in data.values():
        if type(value) not in _PLAIN:
            safe: dict[str, Any] = json_safe(data)
            return safe
    return data


def _enum_text(value: Enum) -> str:
    if isinstance(value, Metric):
        return _NAMES.get(value) or value.name.lower()
    if isinstance(value, Level):
        return value.label
    if isinstance(value, RunStatus):
        return value.value
    return value.name


def _key_text(key: Any) -> str:
    return _enum_text(key) if isinstance(key, Enum) else str(key)


def _pairs(value: Any) -> list[tuple[str, Any]]:
    """``Metric.CUSTOM``'s value as ``(name, value)`` pairs: one pair or a list of them."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return [(value[0], value[1])]
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)):
                break
            out.append((item[0], item[1]))
        else:
            return out
    raise InvalidArgumentError(
        f"track(Metric.CUSTOM, ...): expected (name, value) or a list of (name, value) "
        f"pairs with str names, got {json_safe(value)!r}"
    )


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
        self._artifact_sources: dict[str, Path] = {}
        self._written: dict[Path, int] = {}
        self._started_ns = time.time_ns()
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
            pairs = _pairs(value)
            if self._log is not None:
                for name, item in pairs:
                    self._log(name if prefix is None else prefix + name, item, step)
        elif metric is Metric.CONFUSION:
            if self._run is not None:
                self._run.log_event(
                    "confusion",
                    name="confusion" if prefix is None else prefix + "confusion",
                    step=step,
                    data={"matrix": _matrix(value)},
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
        plain = _plain(params)
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
            data=_json_object(info),
        )

    # ---- files -------------------------------------------------------------------------

    def _resolve(self, path: str | Path) -> Path:
        """A relative path is the workspace's, unless only the working folder has that file
        (the guides save ``checkpoints/epoch_N.pth`` relative to where the script runs)."""
        given = Path(path).expanduser()
        if given.is_absolute() or self.workspace is None:
            return given
        inside = self.workspace / given
        if not inside.exists() and given.exists():
            return given.resolve()
        return inside

    def _should_save(self, network: Any, path: Path) -> bool:
        if network is None:
            return False
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return True
        return self._written.get(path) == mtime or mtime < self._started_ns

    def _artifact_name(self, path: Path) -> str:
        """``checkpoints/<path under the workspace>``, or the file name; a name another
        file already took in this run gets a counter, so no checkpoint hides another."""
        relative = path.name
        if self.workspace is not None and path.resolve().is_relative_to(self.workspace.resolve()):
            relative = path.resolve().relative_to(self.workspace.resolve()).as_posix()
        name = f"checkpoints/{relative.removeprefix('checkpoints/')}"
        source = path.resolve()
        taken = self._artifact_sources.get(name)
        count = 1
        base = Path(name)
        while taken is not None and taken != source:
            count += 1
            name = (base.parent / f"{base.stem}-{count}{base.suffix}").as_posix()
            taken = self._artifact_sources.get(name)
        self._artifact_sources[name] = source
        return name

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
        path = self._resolve(checkpoint_path)
        data: dict[str, Any] = {"path": str(checkpoint_path)}
        if self._should_save(network, path):
            error = _save_network(network, path)
            data["saved"] = error is None
            if error is None:
                self._written[path] = path.stat().st_mtime_ns
            if error is not None:
                data["error"] = error
                self._warn_once(
                    ("checkpoint", "save"), f"could not save the network to {path}: {error}"
                )
        step = _integer(ctx.pop("step", None))
        step = self._epoch if step is None else step
        if self._run is not None:
            if path.is_file() or path.is_dir():
                target = self._run.log_artifact(path, name=self._artifact_name(path))
                data["artifact"] = target.relative_to(self._run.run_dir / "artifacts").as_posix()
            elif network is None:
                self._warn_once(
                    ("checkpoint", "missing"),
                    f"checkpoint {path} does not exist and no network was given to save: "
                    "only the checkpoint event is recorded (warned once per run)",
                )
            if metrics is not None:
                data["metrics"] = json_safe(_named_metrics(metrics))
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
        path = self._resolve(artifact_path)
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
        value = _integer(ctx.get(key))
        if value is not None:
            return value
    return None


def _integer(value: Any) -> int | None:
    """``value`` as an int when it is an integer (numpy's too), not a bool; else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    from omegaconf import DictConfig, OmegaConf

    if isinstance(params, DictConfig):
        data = OmegaConf.to_container(params, resolve=True)
        assert isinstance(data, dict)
        return {str(k): v for k, v in data.items()}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError(
            f"log_params: expected a mapping of names to values, got {type(params).__name__}"
        )
    return dict(params)


def _matrix(value: Any) -> list[list[Any]]:
    """A confusion matrix as a list of rows (numpy arrays and nested sequences)."""
    tolist = getattr(value, "tolist", None)
    rows = tolist() if callable(tolist) else value
    if isinstance(rows, list | tuple) and all(isinstance(r, list | tuple) for r in rows):
        return [[json_safe(x) for x in row] for row in rows]
    raise InvalidArgumentError(
        f"track(Metric.CONFUSION, ...): expected a 2-D matrix, got {type(value).__name__}"
    )


def _named_metrics(metrics: Mapping[Any, Any]) -> dict[str, Any]:
    """Checkpoint metrics by store name; ``CUSTOM`` pairs by their own names; untracked
    keys dropped."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in UNTRACKED_METRICS:
            continue
        if key is Metric.CUSTOM:
            try:
                out.update(_pairs(value))
            except InvalidArgumentError:
                out["custom"] = value
            continue
        out[_key_text(key)] = value
    return out


def _save_network(network: Any, path: Path) -> str | None:
    """Writes ``network`` to ``path``; returns why it could not, or ``None``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        state_dict = getattr(network, "state_dict", None)
        if callable(state_dict):
            try:
                torch = importlib.import_module("torch")
            except ImportError:
                pass
            else:
                torch.save(state_dict(), path)
                return None
        with path.open("wb") as out:
            pickle.dump(network, out)
    except Exception as exc:
        path.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}"
    return None
