"""One command in its own process group, waited for without polling, ended as a whole.

Every run backend ends here: locally, or inside a Ray task, a Dask task or a Slurm job.
:class:`CommandSpec` is plain data so that it pickles to any worker. The wait is on a pidfd,
so a 0.1 s command costs no polling latency; the same wait wakes on a timeout and checks a
cancel file (the one channel that reaches a process on any engine, given a shared folder).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CommandSpec", "ProcessResult", "command_argv", "run_client", "run_command"]

CANCEL_POLL_S = 0.1
"""How often a running command looks for its cancel file."""

SHELL_NOT_FOUND = 127
"""What ``/bin/sh`` exits with when it cannot find the command."""


@dataclass(frozen=True)
class CommandSpec:
    """What to run and where its output goes (picklable: it travels to workers)."""

    argv: list[str]
    cwd: str
    env: dict[str, str]
    stdout: str
    stderr: str
    timeout: float | None = None
    grace: float = 5.0
    cancel_file: str | None = None


@dataclass(frozen=True)
class ProcessResult:
    """How a command ended."""

    exit_code: int | None
    duration: float
    timed_out: bool = False
    cancelled: bool = False
    signal: str | None = None
    error: str | None = None
    timeout: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Exited by itself with status 0."""
        return self.exit_code == 0 and not self.timed_out and not self.cancelled and not self.error

    def reason(self) -> str | None:
        """Why it did not succeed, in words, or ``None``."""
        if self.ok:
            return None
        if self.error:
            return self.error
        if self.timed_out:
            limit = self.duration if self.timeout is None else self.timeout
            return f"timed out after {limit:g} s; its process group was terminated"
        if self.cancelled:
            return "cancelled; its process group was terminated"
        if self.signal:
            return f"killed by {self.signal}"
        return f"exited with status {self.exit_code}"


def command_argv(
    command: str | Sequence[str], *, mpiexec: str | None = None, processes: int | None = None
) -> list[str]:
    """The argv of ``command``: a string runs through ``/bin/sh -c``, a list as it is;
    ``mpiexec`` (with ``-n processes``) goes in front."""
    if isinstance(command, str):
        argv = ["/bin/sh", "-c", command]
    else:
        argv = [str(part) for part in command]
    if mpiexec:
        prefix = [mpiexec] if processes is None else [mpiexec, "-n", str(processes)]
        argv = [*prefix, *argv]
    return argv


def run_command(spec: CommandSpec) -> ProcessResult:
    """Runs ``spec`` to its end (exit, timeout, cancel file, or KeyboardInterrupt).

    The child leads a new session, so the whole group is signalled: SIGTERM, ``grace``
    seconds, then SIGKILL. What the leader leaves behind in its group is killed when it
    exits. Any exception while waiting (KeyboardInterrupt above all) ends the group first,
    then is raised again. A cancel file present before the start means nothing starts.
    """
    for path in (spec.stdout, spec.stderr):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if spec.cancel_file is not None and os.path.exists(spec.cancel_file):
        return ProcessResult(exit_code=None, duration=0.0, cancelled=True)
    with open(spec.stdout, "ab") as out, open(spec.stderr, "ab") as err:
        try:
            proc = subprocess.Popen(
                spec.argv,
                cwd=spec.cwd,
                env=spec.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except OSError as exc:
            return _never_started(started, _start_error(exc, spec))
    return _wait(proc, spec, started)


def _start_error(exc: OSError, spec: CommandSpec) -> str:
    """Why the command could not start, naming the command or the working folder."""
    where = exc.filename if exc.filename is not None else spec.argv[0]
    target = "working folder" if where == spec.cwd else "command"
    if isinstance(exc, FileNotFoundError):
        if target == "command" and os.path.exists(str(where)):
            return f"cannot start {where}: its interpreter (#! line) was not found"
        return f"{target} not found: {where}"
    if isinstance(exc, PermissionError):
        return f"{target} not accessible (permission denied): {where}"
    return f"cannot start {spec.argv[0]}: {exc}"


def _never_started(started: float, error: str) -> ProcessResult:
    return ProcessResult(exit_code=None, duration=time.monotonic() - started, error=error)


class _Leader:
    """The child to wait for: on its pidfd where the kernel has them (no polling delay),
    else by polling (``Popen.wait`` with a timeout)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        try:
            self.pidfd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def exited(self, timeout: float | None) -> bool:
        """Whether the leader exited within ``timeout`` seconds (not reaped yet when it
        is waited on its pidfd, so its pid still names the group)."""
        if self.proc.returncode is not None:  # reaped: its pidfd would never wake
            return True
        if self.pidfd is None:
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        poller = select.poll()  # no limit on the fd's number, unlike select()
        poller.register(self.pidfd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def _wait(proc: subprocess.Popen[bytes], spec: CommandSpec, started: float) -> ProcessResult:
    leader = _Leader(proc)
    deadline = None if spec.timeout is None else started + spec.timeout
    timed_out = cancelled = False
    try:
        while not leader.exited(_next_wake(deadline, spec.cancel_file)):
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                break
            if spec.cancel_file is not None and os.path.exists(spec.cancel_file):
                cancelled = True
                break
        if timed_out or cancelled:
            _end_group(leader, spec.grace)
        else:
            _kill_leftovers(proc.pid)
        code = proc.wait()
    except BaseException:
        _end_group(leader, spec.grace)
        raise
    finally:
        leader.close()
    duration = time.monotonic() - started
    killed_by = _signal_name(-code) if code < 0 else None
    error = None
    if spec.argv[:2] == ["/bin/sh", "-c"] and code == SHELL_NOT_FOUND:
        error = (
            f"exited with status {SHELL_NOT_FOUND}: /bin/sh could not find the command? "
            f"({spec.argv[2]})"
        )
    return ProcessResult(
        exit_code=code,
        duration=duration,
        timed_out=timed_out,
        cancelled=cancelled,
        signal=killed_by,
        error=error,
        timeout=spec.timeout,
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name in the enum
        return f"signal {number}"


def _next_wake(deadline: float | None, cancel_file: str | None) -> float | None:
    """Seconds to wait before looking at the deadline or the cancel file again."""
    waits = [] if cancel_file is None else [CANCEL_POLL_S]
    if deadline is not None:
        waits.append(max(0.0, deadline - time.monotonic()))
    return min(waits) if waits else None


def _end_group(leader: _Leader, grace: float) -> None:
    """SIGTERM to the group, ``grace`` seconds for the leader, then SIGKILL to the group
    (also when the grace is cut short by Ctrl-C or any error), and the leader reaped."""
    pgid = leader.proc.pid
    if leader.proc.returncode is not None:
        return  # already ended and reaped (its pid may name another group by now)
    try:
        _signal_group(pgid, signal.SIGTERM)
        leader.exited(grace)
    finally:
        _signal_group(pgid, signal.SIGKILL)
        leader.proc.wait()


def _kill_leftovers(pgid: int) -> None:
    """Kills what is left of the group; the unreaped leader keeps ``pgid`` from reuse."""
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_client(
    argv: list[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """Runs a short client command that asks an engine for something (``docker create``,
    ``sbatch``) and returns its output.

    The client leads a session of its own, so a Ctrl-C at the terminal reaches only us;
    on any exception (KeyboardInterrupt above all) it is let finish, up to ``timeout``,
    before the exception goes on: the request was then either made, and the caller can
    undo it, or never will be. :class:`subprocess.TimeoutExpired` after ``timeout``
    (the client killed); :class:`FileNotFoundError` when the client is missing.
    """
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    except BaseException:
        try:
            proc.communicate(timeout=timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
