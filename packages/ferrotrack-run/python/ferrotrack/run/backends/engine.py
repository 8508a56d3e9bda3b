"""The driver side that the ray and dask backends share.

Each model run is one task calling :func:`ferrotrack.run.process.run_command` on a worker;
the driver opens and closes the ferrotrack runs. :class:`FanOut` keeps at most
``max_concurrency`` tasks in flight, prepares the next run while the others execute (so a
freed slot is refilled at once) and returns the results in order. Ending it (Ctrl-C, an
exception, :meth:`EngineBackend.cancel_all`) touches each in-flight run's cancel file, so
the worker-side ``run_command`` ends its process group, waits for the tasks to report, and
cancels through the engine only the tasks that did not; then a cluster started here is shut
down. A shared folder is assumed: the run folders and model folders are read and written by
the workers at the same paths.

A task runs its command at most once (:func:`run_once`): it claims ``logs/.started`` first,
so an engine that re-runs it after its worker died gets an error instead, and the driver
claims the same file to give up on a task no worker took within ``queue_timeout``.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.imports import require
from ferrotrack.core.run import RUN_DIR_ENV
from ferrotrack.run.backends.base import CommandBackend
from ferrotrack.run.configs.base import BackendConfig
from ferrotrack.run.execution import Execution, cancel, start_execution
from ferrotrack.run.process import CommandSpec, ProcessResult, command_argv, run_command

__all__ = [
    "STARTED",
    "EngineBackend",
    "EngineUnavailable",
    "FanOut",
    "TaskEngine",
    "WorkerLost",
    "check_reachable",
    "engine_spec",
    "run_once",
]

logger = logging.getLogger("ferrotrack.run")

SETTLE_S = 3.0
"""Seconds beyond the grace for a cancelled task to report before the engine cancels it."""

WAKE_S = 0.2
"""How often the driver's wait looks at a stop request (completions wake it at once)."""


STARTED = ".started"
"""In a run's ``logs/``: created (exclusively) by the task that runs its command, or by the
driver giving up on a task that never started."""

LOST = "worker lost; not re-run (the command may have run on the lost worker)"
"""A task's error when its command was started before (the engine re-ran it)."""


def run_once(spec: CommandSpec, marker: str) -> ProcessResult:
    """The task's body on a worker: :func:`run_command` unless ``marker`` exists, i.e. the
    engine runs the task a second time (its first worker died) or the driver gave up on it.
    """
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return ProcessResult(exit_code=None, duration=0.0, error=LOST)
    try:
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return run_command(spec)


def lost(exc: BaseException) -> WorkerLost:
    """The error recorded for a task whose worker died (``exc``: the engine's)."""
    return WorkerLost(
        f"worker lost while running the task; not re-run ({type(exc).__name__}); its command "
        "may still be running on that host until it ends by itself"
    )


def claim(marker: str) -> bool:
    """Creates ``marker`` for the driver: ``True`` when the task had not started (it never
    will now), ``False`` when its worker got there first."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    return True


class WorkerLost(RuntimeError):
    """The worker running a task died; the engine does not run it again (see
    :func:`run_once`), and the command may go on on that host until it ends by itself."""


class EngineUnavailable(RuntimeError):
    """The engine could not be reached or started; recorded as each run's reason."""


def check_reachable(address: str, what: str, timeout: float) -> None:
    """Raises :class:`EngineUnavailable` unless something accepts a TCP connection at
    ``[scheme://]HOST:PORT`` (engines' own clients may wait forever on a dead address)."""
    rest = address.rpartition("://")[2]
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise EngineUnavailable(f"{what} at {address} is unreachable: {why}") from None


def engine_spec(execution: Execution, config: Any) -> CommandSpec | None:
    """The command of ``execution`` as a worker runs it (``None``: nothing to run), with
    every path absolute: a worker's working folder is not the driver's."""
    model = execution.model
    command = config.command if config.command is not None else model.command
    if command is None:
        return None
    folder = config.work_dir or model.work_dir or model.staging_dir
    spec = execution.command_spec(
        command_argv(command),
        cwd=Path(folder).resolve(),
        extra_env=config.env_vars,
        timeout=config.timeout if config.timeout is not None else model.timeout,
        grace=config.grace,
    )
    env = dict(spec.env)
    env[RUN_DIR_ENV] = os.path.abspath(env[RUN_DIR_ENV])
    return replace(
        spec,
        env=env,
        stdout=os.path.abspath(spec.stdout),
        stderr=os.path.abspath(spec.stderr),
        cancel_file=os.path.abspath(spec.cancel_file) if spec.cancel_file else None,
    )


class TaskEngine(abc.ABC):
    """One engine session as the driver sees it: submit, outcome, cancel, close."""

    label: str
    """E.g. ``"ray (local instance)"``, for messages."""

    @abc.abstractmethod
    def submit(self, spec: CommandSpec, marker: str, key: str, done: Callable[[], None]) -> Any:
        """Submits ``run_once(spec, marker)``; ``done`` is called (any thread) when it ends."""

    def unsatisfiable(self) -> str | None:
        """Why no worker can ever take these tasks (resources nobody has), when the engine
        can tell cheaply; ``None`` otherwise."""
        return None

    @abc.abstractmethod
    def outcome(self, handle: Any) -> ProcessResult:
        """The finished task's result (raises what the engine raised for it)."""

    @abc.abstractmethod
    def cancel(self, handles: Sequence[Any]) -> None:
        """Cancels tasks through the engine (only those that ignored their cancel file)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Shuts the session down if this process started it (else only disconnects)."""


@dataclass
class _Task:
    index: int
    execution: Execution
    spec: CommandSpec
    handle: Any = None
    submitted: float = 0.0
    deadline: float | None = None
    """When the driver looks again: the queue deadline, then (started) the backstop."""
    started: bool = False

    @property
    def marker(self) -> str:
        return os.path.abspath(self.execution.logs_dir / STARTED)


Prepare = Callable[[int], "_Task | bool"]
"""Opens run ``index``: a task to submit, or its result when it ended without a process."""


class FanOut:
    """Runs ``count`` prepared tasks on ``engine``, at most ``max_concurrency`` at once."""

    def __init__(
        self,
        engine: TaskEngine,
        prepare: Prepare,
        count: int,
        *,
        max_concurrency: int,
        forget: Callable[[Execution], None],
        record_on_error: bool = True,
        queue_timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self._prepare = prepare
        self._count = count
        self._max = max_concurrency
        self._forget = forget
        self._record_on_error = record_on_error
        self._queue_timeout = queue_timeout
        self._done: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._stop = stop if stop is not None else threading.Event()
        self.stopped = False
        self.results: list[bool] = [False] * count
        self._inflight: dict[int, _Task] = {}
        self._ready: _Task | None = None
        self._finished: deque[_Task] = deque()
        """Reported, not yet recorded (the window is refilled first)."""
        self._recording: _Task | None = None
        """The task being recorded (popped off ``_finished``): Ctrl-C may land in it."""

    def stop(self) -> None:
        """Asks the fan-out (running in another thread) to cancel everything and return."""
        self._stop.set()

    def run(self) -> list[bool]:
        """The results in order; on an exception (Ctrl-C too) everything in flight is ended
        first, then it is raised again."""
        pending = deque(range(self._count))
        try:
            self._loop(pending)
        except KeyboardInterrupt:
            self._abort("interrupted (KeyboardInterrupt)", self._record_on_error)
            raise
        except BaseException as exc:
            self._abort(f"cancelled after {type(exc).__name__}: {exc}", self._record_on_error)
            raise
        if self._stop.is_set():
            self.stopped = True
            self._abort("cancelled (cancel_all)", record=True)
        return self.results

    def _loop(self, pending: deque[int]) -> None:
        while not self._stop.is_set():
            while len(self._inflight) < self._max:
                task = self._ready or self._next(pending)
                self._ready = None
                if task is None:
                    break
                self._submit(task)
            self._record_finished()
            if not self._inflight:
                if self._ready is None and not pending:
                    return
                continue
            if self._ready is None:
                self._ready = self._next(pending)
            try:
                index = self._done.get(timeout=WAKE_S)
            except queue.Empty:
                self._expire()
                continue
            self._collect(index)
            while True:
                try:
                    self._collect(self._done.get_nowait())
                except queue.Empty:
                    break
            self._expire()
        self._record_finished()

    def _collect(self, index: int) -> None:
        task = self._inflight.pop(index, None)
        if task is not None:  # None: given up on already (see _expire)
            self._finished.append(task)

    def _record_finished(self) -> None:
        """Records the reported tasks, each taken off the list first (never twice)."""
        while self._finished:
            task = self._recording = self._finished.popleft()
            self._record(task)
            self._recording = None

    def _expire(self) -> None:
        """Gives up on the tasks past their deadline: one that no worker took within
        ``queue_timeout`` (resources nobody has, a full cluster) is claimed so that it can
        never start, cancelled through the engine and recorded failed; one that started but
        has not reported long after its own timeout (a worker gone silent) likewise."""
        now = time.monotonic()
        for task in [t for t in self._inflight.values() if t.deadline and now >= t.deadline]:
            if not task.started and claim(task.marker):
                why = (
                    f"never started within {self._queue_timeout:g} s (queue_timeout): no "
                    f"worker of {self.engine.label} took the task; does any have the "
                    "resources it asks for?"
                )
            elif not task.started:
                task.started = True
                timeout = task.spec.timeout
                task.deadline = (
                    None if timeout is None else now + timeout + task.spec.grace + SETTLE_S
                )
                continue
            else:
                why = (
                    f"no report from {self.engine.label} {SETTLE_S:g} s after its timeout "
                    f"and grace ({task.spec.timeout:g} + {task.spec.grace:g} s): its worker "
                    "is gone or stuck"
                )
            self._give_up(task, why)

    def _give_up(self, task: _Task, why: str) -> None:
        del self._inflight[task.index]
        try:
            cancel(task.execution)
            self.engine.cancel([task.handle])
            self.results[task.index] = task.execution.fail(why)
        finally:
            task.handle = None
            self._forget(task.execution)

    def _next(self, pending: deque[int]) -> _Task | None:
        """The next run to submit, opened; runs that end without a process are skipped."""
        while pending:
            index = pending.popleft()
            task = self._prepare(index)
            if isinstance(task, bool):
                self.results[index] = task
                continue
            return task
        return None

    def _submit(self, task: _Task) -> None:
        """Submits ``task``; an engine refusing it fails that run only (the reason kept)."""
        index = task.index
        key = f"ferrotrack-{task.execution.backend}-{task.execution.run.run_id}"
        task.submitted = time.monotonic()
        if self._queue_timeout is not None:
            task.deadline = task.submitted + self._queue_timeout
        try:
            task.handle = self.engine.submit(
                task.spec, task.marker, key, lambda: self._done.put(index)
            )
        except Exception as exc:
            try:
                self.results[index] = task.execution.fail(
                    f"{self.engine.label}: the task could not be submitted: "
                    f"{type(exc).__name__}: {exc}"
                )
            finally:
                self._forget(task.execution)
            return
        self._inflight[index] = task

    def _record(self, task: _Task, reason: str | None = None) -> None:
        execution = task.execution
        try:
            result = self.engine.outcome(task.handle)
        except Exception as exc:
            if isinstance(exc, WorkerLost):
                failed = f"{self.engine.label}: {exc}"
            else:
                failed = f"{self.engine.label}: the task failed: {type(exc).__name__}: {exc}"
            self.results[task.index] = execution.fail(failed)
        else:
            why = f"{reason}: its process group was terminated" if reason else None
            self.results[task.index] = execution.record(
                result, reason=why if result.cancelled else None
            )
        finally:
            task.handle = None
            self._forget(execution)

    def _abort(self, reason: str, record: bool) -> None:
        """Ends every task in flight: cancel files first (the worker ends the process
        group), then what had reported is recorded (each on its own: one failing does not
        stop the others), the engine's cancel for those that do not report in time."""
        tasks = self._inflight
        for task in tasks.values():
            self._guarded(cancel, task.execution)
        half, self._recording = self._recording, None
        if half is not None and half.execution.run.status == "running":
            self._guarded(half.execution.interrupted)  # Ctrl-C landed while recording it
        reported, self._finished = self._finished, deque()
        for task in reported:
            self._settle(task, None, record)
        ready, self._ready = self._ready, None
        if ready is not None:
            if record:
                self._guarded(
                    ready.execution.record,
                    ProcessResult(exit_code=None, duration=0.0, cancelled=True),
                    reason=f"{reason} before it was submitted",
                )
            self._forget(ready.execution)
        grace = max((task.spec.grace for task in tasks.values()), default=0.0)
        deadline = time.monotonic() + grace + SETTLE_S
        self._drain(deadline, reason if record else None, record)
        if tasks:
            handles = [task.handle for task in tasks.values()]
            logger.warning(
                "%s: %d task(s) did not end; cancelling them", self.engine.label, len(tasks)
            )
            self._guarded(self.engine.cancel, handles)
            left = list(tasks.values())
            self._drain(time.monotonic() + SETTLE_S, None, record=False)
            for task in left:
                if record:
                    self._guarded(
                        task.execution.record,
                        ProcessResult(
                            exit_code=None,
                            duration=time.monotonic() - task.submitted,
                            cancelled=True,
                        ),
                        reason=f"{reason}: the task did not report in time and was cancelled "
                        f"through {self.engine.label}",
                    )
                self._forget(task.execution)
            tasks.clear()

    def _settle(self, task: _Task, reason: str | None, record: bool) -> None:
        """Records (or only forgets) a task while aborting; an error is logged, not raised."""
        if record:
            self._guarded(self._record, task, reason)
        else:
            self._forget(task.execution)

    def _guarded(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """``fn(...)``, logging an error instead of raising it: an abort goes on."""
        try:
            fn(*args, **kwargs)
        except Exception:
            logger.exception("%s: while cancelling", self.engine.label)

    def _drain(self, deadline: float, reason: str | None, record: bool) -> None:
        """Collects tasks as they report until none is left or ``deadline``."""
        while self._inflight and (left := deadline - time.monotonic()) > 0:
            try:
                index = self._done.get(timeout=min(left, WAKE_S))
            except queue.Empty:
                continue
            task = self._inflight.pop(index, None)
            if task is not None:
                self._settle(task, reason, record)


@dataclass(eq=False)
class _Call:
    """One ``run``/``run_many`` of an :class:`EngineBackend`, registered before its engine
    starts so that :meth:`EngineBackend.cancel_all` reaches it at any point."""

    stop: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)


class EngineBackend(CommandBackend):
    """A run backend whose model runs are tasks of an engine (Ray, Dask)."""

    library: ClassVar[str]
    """The module the engine needs (``ray``, ``distributed``)."""

    def __init__(self) -> None:
        super().__init__()
        self._calls: set[_Call] = set()

    def require_library(self) -> ModuleType:
        """The engine's library, or :class:`MissingDependencyError` saying what to install."""
        return require(
            self.library,
            f"the {self.backend_name} run backend",
            install=f"pip install ferrotrack-run[{self.extra}]",
        )

    @abc.abstractmethod
    def engine(self, config: Any) -> TaskEngine:
        """The (cached) engine session for ``config``; :class:`EngineUnavailable` if none."""

    def run(self, model_run: Any, **kwargs: Any) -> bool:
        self.require_library()
        return super().run(model_run, **kwargs)

    def execute(self, execution: Execution, model_run: Any, config: Any) -> bool:
        spec = engine_spec(execution, config)
        if spec is None:
            return execution.succeed("no command: the inputs were generated, nothing was run")
        call = self._begin()
        try:
            try:
                engine = self.engine(config)
            except EngineUnavailable as exc:
                return execution.fail(str(exc))
            why = engine.unsatisfiable()
            if why is not None:
                return execution.fail(why)
            task = _Task(0, execution, spec)
            # On an exception the base class records the run (killed on Ctrl-C).
            return self._fan_out(
                engine, lambda _: task, 1, 1, config=config, call=call, record_on_error=False
            )[0]
        finally:
            self._end(call)

    def run_many(
        self, model_runs: Sequence[Any], *, max_concurrency: int = 4, **kwargs: Any
    ) -> list[bool]:
        """Runs several model runs as tasks of one engine session, at most
        ``max_concurrency`` in flight; one bool each, in order (see :class:`FanOut`)."""
        if max_concurrency < 1:
            raise InvalidArgumentError(f"max_concurrency: expected >= 1, got {max_concurrency}")
        self.require_library()
        runs = list(model_runs)
        if not runs:
            return []
        given = kwargs.pop("config", None)
        if given is None:
            config = self.make_config(runs[0], kwargs)
        else:
            config = self.make_config(runs[0], {**given.model_dump(), **kwargs})
        self._cancelling.clear()  # a cancel_all before this call is not about it
        call = self._begin()
        try:
            try:
                engine = self.engine(config)
            except EngineUnavailable as exc:
                return self._fail_all(runs, config, str(exc))
            if call.stop.is_set():  # cancel_all while the cluster was starting
                engine.close()
                return [False] * len(runs)
            why = engine.unsatisfiable()
            if why is not None:
                return self._fail_all(runs, config, why)

            def prepare(index: int) -> _Task | bool:
                model_run = runs[index]
                execution = start_execution(model_run, self.backend_name, config)
                with self._lock:
                    self._live[execution.run.run_id] = execution
                try:
                    model_run.generate()
                except Exception as exc:
                    self._forget(execution)
                    return execution.fail(f"generate() failed: {type(exc).__name__}: {exc}")
                spec = engine_spec(execution, config)
                if spec is None:
                    self._forget(execution)
                    return execution.succeed(
                        "no command: the inputs were generated, nothing was run"
                    )
                return _Task(index, execution, spec)

            return self._fan_out(
                engine,
                prepare,
                len(runs),
                max_concurrency,
                config=config,
                call=call,
                record_on_error=True,
            )
        finally:
            self._end(call)

    def _fail_all(self, runs: Sequence[Any], config: Any, reason: str) -> list[bool]:
        """Each model run's ferrotrack run, opened and failed for ``reason``."""
        return [start_execution(m, self.backend_name, config).fail(reason) for m in runs]

    def _begin(self) -> _Call:
        call = _Call()
        with self._lock:
            self._calls.add(call)
        return call

    def _end(self, call: _Call) -> None:
        with self._lock:
            self._calls.discard(call)
        call.finished.set()

    def _fan_out(
        self,
        engine: TaskEngine,
        prepare: Prepare,
        count: int,
        max_concurrency: int,
        *,
        config: Any,
        call: _Call,
        record_on_error: bool,
    ) -> list[bool]:
        fan = FanOut(
            engine,
            prepare,
            count,
            max_concurrency=max_concurrency,
            forget=self._forget,
            record_on_error=record_on_error,
            queue_timeout=config.queue_timeout,
            stop=call.stop,
        )
        try:
            results = fan.run()
        except BaseException:
            engine.close()
            raise
        if fan.stopped:
            engine.close()
        return results

    def _forget(self, execution: Execution) -> None:
        with self._lock:
            self._live.pop(execution.run.run_id, None)

    def cancel_all(self, timeout: float = 60.0) -> None:
        """Ends every model run this backend has in flight (a ``run_many`` still starting
        its cluster included) and waits (up to ``timeout`` seconds) until they are gone and
        a cluster started here is shut down."""
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.stop.set()
        super().cancel_all()
        deadline = time.monotonic() + timeout
        for call in calls:
            call.finished.wait(max(0.0, deadline - time.monotonic()))


def merged(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` overridden by ``given`` (the user's own engine arguments win)."""
    return {**defaults, **given}


def config_key(config: BackendConfig, fields: Sequence[str]) -> str:
    """A stable key of ``config``'s ``fields`` (the session cache's key)."""
    data = config.model_dump(mode="json", include=set(fields))
    return json.dumps(data, sort_keys=True, default=str)
