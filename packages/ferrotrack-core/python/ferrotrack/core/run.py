"""The tracking API: ``start_run``, ``Run``, and module-level ``log`` on the active run.

``Run.log`` *is* the native ``MetricWriter.log`` (stored on the instance), so a call from
the training loop goes straight into Rust with no Python frame in between.
"""

from __future__ import annotations

import atexit
import copy
import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, Self, overload

from ferrotrack.core import _native
from ferrotrack.core.errors import (
    InvalidArgumentError,
    InvalidValueError,
    RunClosedError,
    RunExistsError,
    RunNotFoundError,
    StoreWriteError,
)
from ferrotrack.core.params import check_json, merge
from ferrotrack.core.store import layout, process
from ferrotrack.core.store.jsonfile import read_json, write_json_atomic
from ferrotrack.core.store.ranks import RankClaim, claim_free_rank, claim_rank

if TYPE_CHECKING:
    from ferrotrack.core.plugins.manager import PluginSpec
    from ferrotrack.core.plugins.session import PluginSession
    from ferrotrack.core.settings import FerrotrackSettings

Status = Literal["running", "finished", "failed", "killed"]
Durability = Literal["none", "on_close", "every_flush"]
RUN_DIR_ENV = "FERROTRACK_RUN_DIR"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
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
        "_restore_signals",
        "_session",
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
        self._restore_signals: Callable[[], None] | None = None
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
        if self._restore_signals is not None:
            self._restore_signals()
            self._restore_signals = None
        _forget(self)

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


# --- the active run ----------------------------------------------------------------------

_active: list[Run] = []
_lock = threading.Lock()


def _remember(run: Run) -> None:
    with _lock:
        _active.append(run)


def _forget(run: Run) -> None:
    with _lock:
        if run in _active:
            _active.remove(run)


def active_run() -> Run | None:
    """The most recently started run that is still open; attaches to ``$FERROTRACK_RUN_DIR``."""
    with _lock:
        if _active:
            return _active[-1]
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


# --- starting ---------------------------------------------------------------------------------


def _rank_from_env() -> int | None:
    for var in ("FERROTRACK_RANK", "RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value:
            try:
                return int(value)
            except ValueError:
                raise InvalidArgumentError(f"${var}={value!r} is not an integer rank") from None
    return None


def _open_writer(
    run_dir: Path, claim: RankClaim, flush_interval: float, durability: Durability
) -> _native.MetricWriter:
    try:
        return _native.MetricWriter(
            run_dir, rank=claim.rank, flush_interval=flush_interval, durability=durability
        )
    except BaseException:
        claim.release()
        raise


def start_run(
    name: str | None = None,
    *,
    experiment: str = "default",
    root: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    resume: bool = False,
    parent: str | Run | None = None,
    flush_interval: float | None = None,
    durability: Durability | None = None,
    rank: int | None = None,
    backends: Sequence[PluginSpec] | None = None,
    collectors: Sequence[PluginSpec] | None = None,
    settings: FerrotrackSettings | None = None,
) -> Run:
    """Starts (or with ``resume=True`` continues) a run and makes it the active run.

    >>> with start_run("base", experiment="cifar10", params={"lr": 1e-3}) as run:  # doctest: +SKIP
    ...     for step in range(1000):
    ...         run.log("train/loss", 1 / (step + 1), step)

    ``backends`` and ``collectors`` take plugin names or configured instances; without
    them, those named by the settings (``FERROTRACK_*`` variables, ``ferrotrack.toml``,
    ``[tool.ferrotrack]``) are used. Arguments given here win over the settings.
    """
    if settings is None and (backends or collectors or _settings_may_exist()):
        from ferrotrack.core.settings import FerrotrackSettings

        settings = FerrotrackSettings()
    if settings is not None:
        root = settings.root if root is None else root
        flush_interval = settings.flush_interval if flush_interval is None else flush_interval
        durability = settings.durability if durability is None else durability
    return _start(
        name,
        experiment=experiment,
        root=layout.resolve_root(root),
        params=params,
        tags=tags,
        run_id=run_id,
        resume=resume,
        parent=parent.run_id if isinstance(parent, Run) else parent,
        flush_interval=1.0 if flush_interval is None else flush_interval,
        durability="on_close" if durability is None else durability,
        rank=rank,
        plugins=(backends, collectors, settings) if settings is not None else None,
    )


def _start(
    name: str | None,
    *,
    experiment: str,
    root: Path,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    run_id: str | None,
    resume: bool,
    parent: str | None,
    flush_interval: float,
    durability: Durability,
    rank: int | None,
    plugins: tuple[Sequence[PluginSpec] | None, Sequence[PluginSpec] | None, FerrotrackSettings]
    | None,
) -> Run:
    base = root
    layout.validate_experiment(experiment)
    if run_id is not None and not (isinstance(run_id, str) and _RUN_ID.match(run_id)):
        raise InvalidArgumentError(
            f"run_id {run_id!r}: expected 1-128 characters of letters, digits, '_', '.', '-'"
        )
    if resume and run_id is None:
        raise InvalidArgumentError("resume=True needs the run_id of the run to continue")
    if not (isinstance(flush_interval, int | float) and flush_interval > 0):
        raise InvalidArgumentError(f"flush_interval: expected seconds > 0, got {flush_interval!r}")
    rid = run_id or layout.new_run_id()
    rdir = layout.run_dir(base, experiment, rid)
    exists = (rdir / "run.json").exists()
    if resume and not exists:
        raise RunNotFoundError(f"no run {rid} in experiment {experiment!r} under {base} to resume")
    if exists and not resume:
        raise RunExistsError(
            f"run {rid} already exists in {rdir.parent}; pass resume=True to continue it"
        )

    rank = _rank_from_env() if rank is None else rank
    try:
        rdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreWriteError(
            e.errno, f"cannot create the run folder {rdir}: {e.strerror or e}"
        ) from e
    claim = claim_rank(rdir, rank if rank is not None else 0)
    writer = _open_writer(rdir, claim, float(flush_interval), durability)

    old_params: dict[str, Any] = {}
    if (rdir / "params.json").exists():
        old_params = read_json(rdir / "params.json")
    meta: dict[str, Any] | None = None
    if claim.rank == 0:
        host, pid, pid_start = process.current_process()
        meta = read_json(rdir / "run.json") if exists else {}
        meta.update(
            format_version=_native.FORMAT_VERSION,
            run_id=rid,
            name=name or meta.get("name") or rid[-8:],
            experiment=experiment,
            status="running",
            started=meta.get("started") or time.time_ns(),
            ended=None,
            flush_interval=float(flush_interval),
            parent=parent if parent is not None else meta.get("parent"),
            tags={**meta.get("tags", {}), **{str(k): str(v) for k, v in (tags or {}).items()}},
            host=host,
            pid=pid,
            pid_start=pid_start,
            error=None,
            signal=None,
        )
    run = Run(
        writer=writer,
        claim=claim,
        root=base,
        run_dir=rdir,
        run_id=rid,
        experiment=experiment,
        name=(meta or {}).get("name") or name or rid[-8:],
        meta=meta,
        params=old_params,
    )
    try:
        if meta is not None:
            run._write_meta()
            run.log_params(params or {})
        elif params:
            run.log_params(params)
    except BaseException:
        writer.close()
        claim.release()
        raise
    if plugins is not None:
        backends, collectors, settings = plugins
        if backends or collectors or settings.backends or settings.collectors:
            _open_plugins(run, backends, collectors, settings, created=not exists)
    run._restore_signals = _install_signal_handlers()
    _remember(run)
    return run


def _settings_may_exist() -> bool:
    """A cheap look for plugin settings, so that runs without plugins never load pydantic."""
    if any(os.environ.get(f"FERROTRACK_{k}") for k in ("BACKENDS", "COLLECTORS")):
        return True
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "ferrotrack.toml").is_file():
            return True
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                return "[tool.ferrotrack" in pyproject.read_text(encoding="utf-8")
            except OSError:
                return False
    return False


def _open_plugins(
    run: Run,
    backends: Sequence[PluginSpec] | None,
    collectors: Sequence[PluginSpec] | None,
    settings: FerrotrackSettings,
    *,
    created: bool,
) -> None:
    """Starts the run's plugins; if one cannot start, the new run leaves no trace."""
    from ferrotrack.core.plugins.session import PluginSession

    try:
        session = PluginSession.open(
            run.run_dir, sink=run, backends=backends, collectors=collectors, settings=settings
        )
    except BaseException:
        run._writer.close()
        run._claim.release()
        if created:
            shutil.rmtree(run.run_dir, ignore_errors=True)
        raise
    run._connect(session)


def attach_run(run_dir: str | os.PathLike[str], *, rank: int | None = None) -> Run:
    """Logs into an existing run folder from another process, under a rank of its own.

    This is what a child process started with ``$FERROTRACK_RUN_DIR`` does on its first
    ``ferrotrack.core.log(...)``. The rank comes from ``rank=``, ``$FERROTRACK_RANK``,
    ``$RANK`` or ``$LOCAL_RANK``, else the lowest free rank above 0.
    """
    rdir = Path(run_dir)
    if not rdir.is_dir():
        raise RunNotFoundError(f"{RUN_DIR_ENV} or run_dir: {rdir} is not a run folder")
    rank = _rank_from_env() if rank is None else rank
    claim = claim_rank(rdir, rank) if rank is not None else claim_free_rank(rdir)
    meta = read_json(rdir / "run.json") if (rdir / "run.json").exists() else {}
    writer = _open_writer(rdir, claim, float(meta.get("flush_interval", 1.0)), "on_close")
    run_id = rdir.name.removeprefix("run=")
    run = Run(
        writer=writer,
        claim=claim,
        root=rdir.parent.parent,
        run_dir=rdir,
        run_id=run_id,
        experiment=rdir.parent.name.removeprefix("experiment="),
        name=str(meta.get("name", run_id[-8:])),
        meta=None,
        params={},
    )
    _remember(run)
    return run


# --- process end and signals ---------------------------------------------------------------

_last_exception: BaseException | None = None


def _excepthook(tp: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    global _last_exception
    _last_exception = exc
    _previous_excepthook(tp, exc, tb)


_previous_excepthook = sys.excepthook
sys.excepthook = _excepthook


@atexit.register
def _finish_at_exit() -> None:
    """Runs still open when the interpreter exits are finished (failed after an uncaught error)."""
    for run in list(reversed(_active)):
        try:
            if _last_exception is not None:
                status: Status = (
                    "killed" if isinstance(_last_exception, KeyboardInterrupt) else "failed"
                )
                run.finish(status, error=_last_exception)
            else:
                run.finish("finished")
        except Exception as e:
            print(f"ferrotrack: could not finish run {run.run_id}: {e}", file=sys.stderr)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Flush, mark killed, then let the signal do what it would have done."""
    for run in list(reversed(_active)):
        try:
            run.finish("killed", signal_name=signal.Signals(signum).name)
        except Exception as e:
            print(f"ferrotrack: could not finish run {run.run_id}: {e}", file=sys.stderr)
    previous = _previous_handlers.pop(signum, signal.SIG_DFL)
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    else:
        os.kill(os.getpid(), signum)


_previous_handlers: dict[int, Any] = {}


def _install_signal_handlers() -> Callable[[], None] | None:
    """Handles SIGTERM while runs are open (main thread only; SIGINT is a KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread() or _previous_handlers:
        return None
    try:
        _previous_handlers[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        return None

    def restore() -> None:
        if _active:
            return
        previous = _previous_handlers.pop(signal.SIGTERM, None)
        if previous is not None and signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return restore
