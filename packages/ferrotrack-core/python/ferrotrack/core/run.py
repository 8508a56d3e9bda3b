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
from ferrotrack.core.errors import (
    InvalidArgumentError,
    InvalidValueError,
    RunClosedError,
)
from ferrotrack.core.params import check_json, merge
from ferrotrack.core.store.jsonfile import write_json_atomic
from ferrotrack.core.store.ranks import RankClaim

if TYPE_CHECKING:
    from ferrotrack.core.exits import SigtermClaim
    from ferrotrack.core.plugins.session import PluginSession

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
    "log_params",
    "start_run",
]

Status = Literal["running", "finished", "failed", "killed"]
Durability = Literal["none", "on_close", "every_flush"]
RUN_DIR_ENV = "FERROTRACK_RUN_DIR"
_FINAL: frozenset[str] = frozenset({"finished", "failed", "killed"})


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
    """``run.log_array(name, values, steps=None)`` for numpy arrays or any numeric buffer."""

    def __call__(self, name: str, values: Any, steps: Any | None = None) -> None: ...


class Run:
    """One tracked run: metrics, params, tags, artifacts and a status, in one folder.

    Create it with :func:`start_run`. Use it as a context manager, or call
    :meth:`finish`. ``log`` and ``log_array`` are the native methods of the run's
    metric writer:

    - ``run.log("train/loss", 0.25, step=10)``; ``run.log({"a": 1.0, "b": 2.0}, step=10)``
    - ``run.log_array("grad_norm", numpy_array, steps=None)``
    """

    __slots__ = (
        "__weakref__",
        "_claim",
        "_feeder",
        "_meta",
        "_params",
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
        claim: RankClaim,
        root: Path,
        run_dir: Path,
        run_id: str,
        experiment: str,
        name: str,
        meta: dict[str, Any] | None,
        params: dict[str, Any],
    ) -> None:
        self._writer = writer
        self._claim = claim
        self.log = writer.log
        self.log_array = writer.log_array
        self.root = root
        self.run_dir = run_dir
        self.run_id = run_id
        self.experiment = experiment
        self.name = name
        self.rank = claim.rank
        self._meta = meta
        self._params = params
        self._sigterm: SigtermClaim | None = None
        self._session: PluginSession | None = None
        self._feeder: _Feeder | None = None

    # --- what the run is ---------------------------------------------------------------

    @property
    def owns_metadata(self) -> bool:
        """Whether this process (rank 0) writes ``run.json`` and ``params.json``."""
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
        """The parameters logged so far, nested."""
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
        """Merges ``params`` (nested dicts stay nested) into ``params.json``.

        Raises ``TypeError`` naming the key of a value JSON cannot hold.
        """
        if not isinstance(params, Mapping):
            raise InvalidValueError(f"log_params: expected a mapping, got {type(params).__name__}")
        checked = {str(k): check_json(v, str(k)) for k, v in params.items()}
        self._ensure_open()
        self._params = merge(self._params, checked)
        write_json_atomic(self.run_dir / "params.json", self._params)
        if self._session is not None:
            self._session.log_params(checked)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Sets tags (values are stored as strings)."""
        if not isinstance(tags, Mapping):
            raise InvalidValueError(f"set_tags: expected a mapping, got {type(tags).__name__}")
        self._ensure_open()
        if self._meta is None:
            raise InvalidArgumentError("set_tags: only rank 0 of a run keeps its tags")
        self._meta["tags"].update({str(k): str(v) for k, v in tags.items()})
        self._write_meta()

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
        return target

    # --- ending ------------------------------------------------------------------------------

    def finish(
        self,
        status: Status = "finished",
        *,
        error: BaseException | None = None,
        signal_name: str | None = None,
    ) -> None:
        """Flushes and closes the store, then records the final status. Idempotent.

        If the store cannot be written (full disk), the error is raised and the run stays
        open, so nothing is lost: free space and call ``finish`` again.
        """
        if status not in _FINAL:
            raise InvalidArgumentError(
                f"finish: status must be one of {sorted(_FINAL)}, got {status!r}"
            )
        if self._writer.closed:
            return
        if self._session is not None:
            self._session.stop_sources()
        self._writer.close()
        if self._feeder is not None:
            self._feeder.drain()
            self._feeder = None
        if self._session is not None:
            session, self._session = self._session, None
            session.close(status)
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
        self._claim.release()
        if self._sigterm is not None:
            self._sigterm.release()
            self._sigterm = None
        active.forget(self)

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

    def _connect(self, session: PluginSession) -> None:
        """Feeds every flushed batch to the plugin session, from a thread of its own."""
        self._writer.subscribe()
        self._session = session
        self._feeder = _Feeder(self._writer, session, self.rank)
        session.log_params(self._params)


class _Feeder:
    """Moves flushed batches from the writer to the plugins; never on the logging path."""

    def __init__(self, writer: _native.MetricWriter, session: PluginSession, rank: int) -> None:
        self._writer = writer
        self._session = session
        self._rank = rank
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ferrotrack-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import pyarrow as pa

        while True:
            item = self._writer.next_flushed(0.2)
            if item is None:
                if self._closed.is_set():
                    return
                continue
            first_row, batch = item
            self._session.submit(self._rank, first_row, pa.record_batch(batch))

    def drain(self) -> None:
        """Waits until every batch flushed before now reached the session (call after close)."""
        self._closed.set()
        self._thread.join()


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
    """Logs parameters to the active run."""
    _require_active().log_params(params)


def finish(status: Status = "finished") -> None:
    """Finishes the active run."""
    _require_active().finish(status)


# Re-exported: ``from ferrotrack.core.run import start_run`` keeps working. Imported last
# because starting.py builds on Run.
from ferrotrack.core.starting import attach_run, start_run  # noqa: E402
