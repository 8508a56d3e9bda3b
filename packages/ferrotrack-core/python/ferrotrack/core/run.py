"""The tracking API: ``start_run``, ``Run``, and module-level ``log`` on the active run.

``Run.log`` *is* the native ``MetricWriter.log`` (stored on the instance), so a call from
the training loop goes straight into Rust with no Python frame in between.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, overload

from ferrotrack.core import _native, active
from ferrotrack.core import params as params_mod
from ferrotrack.core.errors import (
    InvalidArgumentError,
    InvalidValueError,
    RunClosedError,
)
from ferrotrack.core.records import RunEvent
from ferrotrack.core.store.events import EventLog, check_event

if TYPE_CHECKING:
    from ferrotrack.core.delivery.session import PluginSession
    from ferrotrack.core.exits import SigtermClaim

__all__ = [
    "RUN_DIR_ENV",
    "Durability",
    "LogArrayMethod",
    "LogMethod",
    "Run",
    "Status",
    "active_run",
    "attach_run",
    "finish",
    "log",
    "log_event",
    "log_params",
    "start_run",
]

Status = Literal["running", "finished", "failed", "killed"]
Durability = Literal["none", "on_close", "every_flush"]
RUN_DIR_ENV = "FERROTRACK_RUN_DIR"
_FINAL: frozenset[str] = frozenset({"finished", "failed", "killed"})
_TAG_SCALARS = (str, int, float, bool)


def check_tags(tags: Any, where: str) -> dict[str, str | None]:
    """Tags as stored: str keys, str values; ``None`` deletes a tag. Raises naming the tag."""
    if not isinstance(tags, Mapping):
        raise InvalidValueError(
            f"{where}: tags must be a mapping of name to value, got {type(tags).__name__}"
        )
    out: dict[str, str | None] = {}
    for key, given in tags.items():
        if not isinstance(key, str) or not key:
            raise InvalidValueError(f"{where}: tag names must be non-empty str, got {key!r}")
        value = given
        item = getattr(given, "item", None)
        if not isinstance(given, _TAG_SCALARS) and given is not None and callable(item):
            value = item()  # a numpy scalar
        if value is not None and not isinstance(value, _TAG_SCALARS):
            raise InvalidValueError(
                f"{where}: tag {key!r}: expected a str, number or bool (None deletes the "
                f"tag), got {type(value).__name__}"
            )
        out[key] = None if value is None else str(value)
    return out


def apply_tags(current: Mapping[str, str], delta: Mapping[str, str | None]) -> dict[str, str]:
    """``current`` with ``delta`` applied (a ``None`` value deletes the tag)."""
    out = dict(current)
    for key, value in delta.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class LogMethod(Protocol):
    """``run.log(name, value, step=None)`` or ``run.log({name: value, ...}, step=None)``."""

    @overload
    def __call__(
        self, name: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None: ...
    @overload
    def __call__(self, name: Mapping[str, float], value: int | None = None) -> None: ...
    @overload
    def __call__(self, name: Mapping[str, float], *, step: int | None = None) -> None: ...


class LogArrayMethod(Protocol):
    """``run.log_array(name, values, steps=None, timestamps=None)`` for numpy arrays or any
    numeric buffer; ``timestamps`` are int64 ns since the epoch, one per value."""

    def __call__(
        self, name: str, values: Any, steps: Any | None = None, timestamps: Any | None = None
    ) -> None: ...


class Run:
    """One tracked run: metrics, params, tags, artifacts, events and a status, in one folder.

    Create it with :func:`start_run`. Use it as a context manager, or call
    :meth:`finish`. ``log`` and ``log_array`` are the native methods of the run's
    metric writer:

    - ``run.log("train/loss", 0.25, step=10)``; ``run.log({"a": 1.0, "b": 2.0}, step=10)``
    - ``run.log_array("grad_norm", numpy_array, steps=None)``
    """

    __slots__ = (
        "__weakref__",
        "_durability",
        "_events",
        "_lock",
        "_meta",
        "_params",
        "_pid",
        "_session",
        "_sigterm",
        "_writer",
        "experiment",
        "log",
        "log_array",
        "name",
        "rank",
        "root",
        "run_dir",
        "run_id",
    )

    log: LogMethod
    log_array: LogArrayMethod

    def __init__(
        self,
        *,
        writer: _native.MetricWriter,
        rank: int,
        root: Path,
        run_dir: Path,
        run_id: str,
        experiment: str,
        name: str,
        meta: dict[str, Any] | None,
        params: dict[str, Any],
        durability: Durability = "on_close",
    ) -> None:
        self._writer = writer
        self.log = writer.log
        self.log_array = writer.log_array
        self.root = root
        self.run_dir = run_dir
        self.run_id = run_id
        self.experiment = experiment
        self.name = name
        self.rank = rank
        self._meta = meta
        self._params = params
        self._durability: Durability = durability
        self._lock = threading.Lock()
        self._events: EventLog | None = None
        self._sigterm: SigtermClaim | None = None
        self._session: PluginSession | None = None
        self._pid = os.getpid()

    # --- what the run is ---------------------------------------------------------------

    @property
    def owns_metadata(self) -> bool:
        """Whether this process (rank 0) writes ``run.json``."""
        return self._meta is not None

    @property
    def status(self) -> str:
        """``running`` until :meth:`finish`; then the final status."""
        return (
            str(self._meta["status"])
            if self._meta
            else ("finished" if self._writer.closed else "running")
        )

    @property
    def params(self) -> dict[str, Any]:
        """The parameters of the run as last read or written by this process, nested."""
        return copy.deepcopy(self._params)

    @property
    def tags(self) -> dict[str, str]:
        """The tags set so far."""
        return dict(self._meta["tags"]) if self._meta else {}

    def summary(self) -> dict[str, _native.MetricSummaryDict]:
        """Per-metric count, first, last, min, max, steps and NaN count (this rank)."""
        return self._writer.summary()

    def flush(self) -> None:
        """Writes every waiting point to the store now."""
        self._writer.flush()

    def __repr__(self) -> str:
        return (
            f"Run(name={self.name!r}, experiment={self.experiment!r}, "
            f"run_id={self.run_id!r}, status={self.status!r})"
        )

    # --- logging beyond metrics -----------------------------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merges ``params`` into ``params.json``: nested dicts stay nested, a dotted key is
        a path (``"optim.lr"`` sets ``lr`` inside ``optim``), keys logged by other processes
        of the run are kept.

        Raises ``TypeError`` naming the key of a value JSON cannot hold.
        """
        delta = params_mod.normalize(params)
        self._ensure_open()
        self._store_params(delta)

    def _store_params(self, delta: dict[str, Any]) -> None:
        sync = self._durability == "every_flush"
        self._params = params_mod.update_file(self.run_dir, delta, sync=sync)
        self._notify_params(delta)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Sets tags (values are stored as strings); a value ``None`` deletes the tag."""
        delta = check_tags(tags, "set_tags")
        self._ensure_open()
        if self._meta is None:
            raise InvalidArgumentError("set_tags: only rank 0 of a run keeps its tags")
        self._meta["tags"] = apply_tags(self._meta["tags"], delta)
        self._write_meta()
        self._notify_tags(delta)

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> Path:
        """Copies a file or folder under ``artifacts/`` (as ``name`` if given); returns the copy."""
        self._ensure_open()
        source = Path(path)
        if not source.exists():
            raise InvalidArgumentError(f"log_artifact: {source} does not exist")
        artifacts = (self.run_dir / "artifacts").resolve()
        target = (artifacts / (name if name is not None else source.name)).resolve()
        if not target.is_relative_to(artifacts) or target == artifacts:
            raise InvalidArgumentError(
                f"log_artifact: name {name!r} would leave the run's artifacts folder"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
        self._notify_artifact(target, name)
        return target

    def log_event(
        self,
        kind: str,
        message: str | None = None,
        *,
        name: str | None = None,
        level: str | None = None,
        step: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> RunEvent:
        """Records one event of the run (a level starting or ending, a checkpoint, a message).

        ``kind`` is ``[a-z][a-z0-9_]*`` (``level_start``, ``level_end``, ``checkpoint``,
        ``message`` or one of your own); ``data`` any JSON object. The event is appended to
        ``events/rank-<rank>.jsonl`` at once, after the points this rank logged before it.
        """
        fields = check_event(kind, message, name, level, step, data)
        self._ensure_open()
        with self._lock:
            if self._events is None:
                self._events = EventLog(self.run_dir, self.rank, durability=self._durability)
        event = self._events.append(fields, self._rows())
        self._notify_event(event)
        return event

    def _rows(self) -> int:
        """Points this rank has logged so far (where a non-point item sits among them)."""
        return self._writer.rows

    # --- ending ------------------------------------------------------------------------------

    def finish(
        self,
        status: Status = "finished",
        *,
        error: BaseException | None = None,
        signal_name: str | None = None,
    ) -> None:
        """Closes the store and records the final status, then lets the mirrors catch up.

        Idempotent, and a no-op in a forked child (the run is its parent's). The status is
        in ``run.json`` before any backend drains. If the store
        cannot be written (full disk), the error is raised and the run stays open, so
        nothing is lost: free space and call ``finish`` again.
        """
        if status not in _FINAL:
            raise InvalidArgumentError(
                f"finish: status must be one of {sorted(_FINAL)}, got {status!r}"
            )
        if self._writer.closed:
            return
        if os.getpid() != self._pid:
            return  # a forked child unwinding the parent's `with`: the run is the parent's
        self._notify_stop_sources()
        self._writer.close()
        if self._events is not None:
            self._events.close()
        # The store is the source of truth and is final first: the status is on disk
        # before any mirror drains (a scheduler's SIGTERM grace may end during the drain).
        if self._meta is not None:
            self._meta.update(status=status, ended=time.time_ns())
            if error is not None:
                self._meta["error"] = {
                    "type": type(error).__qualname__,
                    "message": str(error),
                    "traceback": "".join(traceback.format_exception(error)),
                }
            if signal_name is not None:
                self._meta["signal"] = signal_name
            self._write_meta()
        active.forget(self)
        try:
            self._notify_close(status)
        finally:
            if self._sigterm is not None:
                self._sigterm.release()
                self._sigterm = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            self.finish("finished")
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("killed", signal_name="SIGINT")
        else:
            self.finish("failed", error=exc)

    # --- internals -------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._writer.closed:
            raise RunClosedError(
                f"run {self.run_id} is finished; start or resume a run to log more"
            )

    def _write_meta(self) -> None:
        assert self._meta is not None
        self._writer.set_run_meta(json.dumps(self._meta))

    # --- the plugin session (delivery): every call to it is here ---------------------------
    # Each is made from the user's thread and never blocks on a backend; ``rows`` places a
    # non-point item after the points this rank logged before it.

    def _connect(self, session: PluginSession) -> None:
        """Starts delivery of the writer's flushed batches (the session's feeder thread)."""
        self._session = session
        session.attach(self._writer)

    def _notify_params(self, delta: Mapping[str, Any]) -> None:
        if self._session is not None and delta:
            self._session.log_params(delta, self._rows())

    def _notify_tags(self, delta: Mapping[str, str | None]) -> None:
        if self._session is not None and delta:
            self._session.set_tags(delta, self._rows())

    def _notify_artifact(self, target: Path, name: str | None) -> None:
        if self._session is not None:
            self._session.log_artifact(target, name, self._rows())

    def _notify_event(self, event: RunEvent) -> None:
        if self._session is not None:
            self._session.log_event(event)

    def _notify_stop_sources(self) -> None:
        if self._session is not None:
            self._session.stop_sources()

    def _notify_close(self, status: Status) -> None:
        """Delivers what is left and the final status; called once the store is final."""
        if self._session is not None:
            session, self._session = self._session, None
            session.close(status)


# --- the module-level API ----------------------------------------------------------------


def active_run() -> Run | None:
    """The most recently started run that is still open; attaches to ``$FERROTRACK_RUN_DIR``."""
    run = active.current()
    if run is not None:
        return run
    if os.environ.get(RUN_DIR_ENV):
        return attach_run(os.environ[RUN_DIR_ENV])
    return None


def _require_active() -> Run:
    run = active_run()
    if run is None:
        raise RunClosedError("no active run: call ferrotrack.core.start_run() first")
    return run


def log(
    name: str | Mapping[str, float],
    value: float | None = None,
    step: int | None = None,
) -> None:
    """Logs to the active run, like ``Run.log``."""
    log_method: Any = _require_active().log
    log_method(name, value, step)


def log_params(params: Mapping[str, Any]) -> None:
    """Logs parameters to the active run (merged with those of every process of the run)."""
    _require_active().log_params(params)


def log_event(
    kind: str,
    message: str | None = None,
    *,
    name: str | None = None,
    level: str | None = None,
    step: int | None = None,
    data: Mapping[str, Any] | None = None,
) -> RunEvent:
    """Records an event of the active run, like ``Run.log_event``."""
    return _require_active().log_event(kind, message, name=name, level=level, step=step, data=data)


def finish(status: Status = "finished") -> None:
    """Finishes the active run."""
    _require_active().finish(status)


# Re-exported: ``from ferrotrack.core.run import start_run`` keeps working. Imported last
# because starting.py builds on Run.
from ferrotrack.core.starting import attach_run, start_run  # noqa: E402
