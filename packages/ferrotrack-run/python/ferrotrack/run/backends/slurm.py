"""The ``slurm`` run backend: each model run a batch job, several model runs one array job.

Slurm is driven through its client commands (``sbatch``, ``scontrol``, ``squeue``,
``scancel``), not submitit: submitit watches jobs through ``sacct``, which needs the
accounting daemon many clusters (and the test cluster) do not run, and without it a job
that dies before writing its result leaves submitit waiting forever (docs/run/slurm.md).

A shared folder is assumed: the batch script is written into the run's ``logs/`` and
writes there too, so the submitting machine and the compute nodes must see the same paths
(as they must for ``FERROTRACK_RUN_DIR``). The script exports the child's whole
environment, runs the command in its working folder, and records its exit code in
``logs/slurm_exit_code``: that file is the source of truth for how the command ended,
``scontrol show job`` (which needs no accounting) says how the job ended when the script
could not record it (cancelled, time limit, node failure). A timeout (counted from the
job's start), the run's cancel file, Ctrl-C or an exception ``scancel`` the job and wait
until ``squeue`` no longer lists it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import InvalidArgumentError, MissingDependencyError
from ferrotrack.core.run import RUN_DIR_ENV
from ferrotrack.run.backends.base import CommandBackend
from ferrotrack.run.configs.slurm import SlurmConfig
from ferrotrack.run.execution import Execution, start_execution
from ferrotrack.run.process import CommandSpec, ProcessResult, command_argv, run_client

__all__ = [
    "SlurmBackend",
    "SlurmError",
    "job_environment",
    "job_script",
    "job_states",
    "parse_array_tasks",
    "write_job",
]

logger = logging.getLogger("ferrotrack.run.slurm")

JOB_SCRIPT = "slurm_job.sh"
"""The batch script of one model run, in its run's ``logs/`` (no environment values)."""
ENV_FILE = "slurm_env.sh"
"""What the job's environment differs in from the submitter's (``export``/``unset``), in
the run's ``logs/``, 0600, removed once the run is recorded (values may be secrets)."""
STARTED = "slurm_started"
"""Written by the script when the job starts (holds the job id)."""
EXIT_CODE = "slurm_exit_code"
"""Written by the script when the command ends: its exit status."""
SCRIPT_ERROR = "slurm_error"
"""Written by the script when it could not run the command (e.g. no working folder)."""
ARRAYS_DIR = ".slurm"
"""Under the first model run's ``output_dir``: one folder per array job (its script, and
links from task numbers to each run's ``logs/`` for sbatch's ``%a`` output paths)."""

FILE_POLL_S = 0.05
"""How often the shared folder is looked at (exit codes, start markers, cancel files)."""
EXIT_FILE_LAG_S = 5.0
"""How long an exit code may lag behind Slurm saying the job ended (a shared folder's
attribute cache); after it, scontrol's ExitCode is used."""
GONE_DEADLINE_S = 60.0
"""How long a cancelled job may take to leave squeue (the cluster's KillWait is the grace
between SIGTERM and SIGKILL)."""
CLI_TIMEOUT_S = 60.0
"""For one client command (sbatch retries for a while when the controller is away)."""

ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "STOPPED",
        "SIGNALING",
        "STAGE_OUT",
        "RESIZING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESV_DEL_HOLD",
    }
)
"""Job states in which the job still holds or waits for resources."""
LAGGING_STATES = frozenset({"COMPLETED", "FAILED"})
"""Terminal states in which the script may have recorded an exit code we have not seen yet."""
NOT_FOUND = 127
NOT_EXECUTABLE = 126

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FIELD = re.compile(r"(?:^|\s)(JobId|ArrayJobId|ArrayTaskId|JobState|ExitCode|Reason)=(\S*)")
_NOT_EXPORTED = frozenset({"PWD", "OLDPWD", "SHLVL", "_"})


MISSING_SBATCH = (
    "sbatch not found: install Slurm's client commands (Debian: slurm-client) or put them on PATH"
)


class SlurmError(RuntimeError):
    """A Slurm step that failed before the model ran (the message is the run's reason)."""


# -- the client commands -------------------------------------------------------------------


def _client(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """One Slurm client command with this process's environment (``SLURM_CONF``...)."""
    conf = os.environ.get("SLURM_CONF")
    if conf and not Path(conf).is_file():  # else each command retries for a minute
        raise SlurmError(f"SLURM_CONF points at {conf}, which is not a file")
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]} {MISSING_SBATCH.partition(' ')[2]}") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]} did not answer within {CLI_TIMEOUT_S:.0f} s") from None


def _said(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()
    last = lines[-1].removeprefix("sbatch: error: ").strip()
    return last.removeprefix("Batch job submission failed: ")


def parse_array_tasks(text: str) -> list[int]:
    """The task numbers of scontrol's ``ArrayTaskId`` (``3``, ``3-5%2``, ``1,4-8:2``)."""
    tasks: list[int] = []
    for part in text.split("%", 1)[0].split(","):
        if not part:
            continue
        span, _, step = part.partition(":")
        first, _, last = span.partition("-")
        stop = int(last) if last else int(first)
        tasks.extend(range(int(first), stop + 1, int(step) if step else 1))
    return tasks


@dataclass(frozen=True)
class JobState:
    """What scontrol says of one job or array task."""

    state: str
    exit_code: int | None
    signal: int | None
    reason: str

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


def job_states(job_ids: Iterable[str]) -> dict[str, JobState] | None:
    """``scontrol show job -o`` of each job: ``{"123": ..., "124_0": ...}`` (array tasks
    as ``<array job>_<task>``; pending tasks listed one by one). ``None`` when the
    controller did not answer; a job it no longer knows is left out."""
    found: dict[str, JobState] = {}
    for job_id in job_ids:
        done = _client("scontrol", "show", "job", "-o", job_id)
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                continue
            logger.warning("slurm: scontrol show job %s: %s", job_id, _said(done))
            return None
        for line in done.stdout.splitlines():
            fields = dict(_FIELD.findall(line))
            if "JobId" not in fields:
                continue
            code, _, sig = fields.get("ExitCode", "").partition(":")
            state = JobState(
                state=fields.get("JobState", "UNKNOWN"),
                exit_code=int(code) if code.isdigit() else None,
                signal=int(sig) if sig.isdigit() and int(sig) else None,
                reason=fields.get("Reason", ""),
            )
            array = fields.get("ArrayJobId")
            if array and "ArrayTaskId" in fields:
                for task in parse_array_tasks(fields["ArrayTaskId"]):
                    found[f"{array}_{task}"] = state
            else:
                found[fields["JobId"]] = state
    return found


def _queued(job_ids: Iterable[str]) -> list[str] | None:
    """What squeue still lists of ``job_ids`` (array tasks one by one); ``None`` when the
    controller did not answer."""
    ids = sorted(set(job_ids))
    if not ids:
        return []
    done = _client("squeue", "-h", "-r", "-o", "%i", "-j", ",".join(ids))
    if done.returncode != 0:
        if "Invalid job id" in done.stderr:
            return []
        return None
    return done.stdout.split()


def _scancel(job_ids: Iterable[str]) -> str | None:
    """``scancel`` of each job; the controller's complaint, if any."""
    ids = sorted(set(job_ids))
    if not ids:
        return None
    done = _client("scancel", *ids)
    if done.returncode != 0 and "Invalid job id" not in done.stderr:
        return f"scancel {' '.join(ids)} failed: {_said(done)}"
    return None


def _cancel_and_wait(job_ids: Iterable[str]) -> str | None:
    """Cancels the jobs and waits (polling, with a deadline) until squeue lists none of
    them; what is left, in words, or ``None``."""
    ids = sorted(set(job_ids))
    try:
        problem = _scancel(ids)
        deadline = time.monotonic() + GONE_DEADLINE_S
        while True:
            left = _queued(ids)
            if left == []:
                return problem
            if time.monotonic() > deadline:
                still = "unknown (squeue did not answer)" if left is None else " ".join(left)
                sent = problem or "scancel sent"
                return f"{sent}; still queued after {GONE_DEADLINE_S:.0f} s: {still}"
            time.sleep(0.1)
    except SlurmError as exc:
        return str(exc)


# -- the batch scripts ---------------------------------------------------------------------


def _absolute(path: str | Path) -> Path:
    return Path(path).expanduser().absolute()


def job_environment(spec: CommandSpec, base: Mapping[str, str] | None = None) -> str:
    """The lines (``export``/``unset``) that turn the submitter's environment ``base``
    (default: ``os.environ``), which the job gets through ``sbatch --export=ALL``, into
    ``spec.env``: only what differs is written. ``SLURM_*`` variables equal to the
    submitter's are left to the job's own; a model's own ``SLURM_*`` ones are exported."""
    base = os.environ if base is None else base
    q = shlex.quote
    lines = []
    for name, value in sorted(spec.env.items()):
        text = str(_absolute(value)) if name == RUN_DIR_ENV else value
        if name in _NOT_EXPORTED or base.get(name) == text:
            continue
        if not _ENV_NAME.match(name):
            logger.warning(
                "slurm: environment variable %r cannot be exported by sh; left out", name
            )
            continue
        lines.append(f"export {name}={q(text)}")
    for name in sorted(set(base) - set(spec.env)):
        if name in _NOT_EXPORTED or name.startswith("SLURM_") or not _ENV_NAME.match(name):
            continue
        lines.append(f"unset {name}")
    return "".join(f"{line}\n" for line in lines)


def write_private(path: Path, text: str) -> None:
    """Writes ``text`` readable by its owner only (0600 from the start, also when the file
    was there before)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)
        handle.write(text)


def job_script(spec: CommandSpec, logs: Path, run_id: str) -> str:
    """The batch script of one model run: reads its environment from ``logs/`` (written
    by :func:`job_environment`, removed once the run is recorded: values never stay in
    the script), goes to its folder, runs its command and records its exit code."""
    q = shlex.quote
    cwd = str(_absolute(spec.cwd))

    def give_up(code: int, why: str, *args: str) -> list[str]:
        fmt = q(why + "\\n")
        return [
            f'  printf {fmt} {" ".join(args)} > "$logs/{SCRIPT_ERROR}"',
            f"  printf '{code}\\n' > \"$logs/{EXIT_CODE}.tmp\"",
            f'  command -p mv -f "$logs/{EXIT_CODE}.tmp" "$logs/{EXIT_CODE}"',
            f"  exit {code}",
        ]

    lines = [
        "#!/bin/sh",
        f"# Model run {run_id} as a Slurm job, written by ferrotrack's slurm run backend.",
        f"logs={q(str(logs))}",
        'printf \'%s\\n\' "${SLURM_JOB_ID:-?}" > "$logs/' + STARTED + '"',
        "exec </dev/null",
        f'if [ ! -r "$logs/{ENV_FILE}" ]; then',
        *give_up(1, "environment file not found: %s", f'"$logs/{ENV_FILE}"'),
        "fi",
        f'. "$logs/{ENV_FILE}"',
        f"if ! cd {q(cwd)}; then",
        *give_up(NOT_FOUND, "working folder not found: %s", q(cwd)),
        "fi",
        " ".join(q(part) for part in spec.argv),
        "code=$?",
        f'printf \'%s\\n\' "$code" > "$logs/{EXIT_CODE}.tmp"',
        f'command -p mv -f "$logs/{EXIT_CODE}.tmp" "$logs/{EXIT_CODE}"',
        'exit "$code"',
    ]
    return "\n".join(lines) + "\n"


def write_job(spec: CommandSpec, logs: Path, run_id: str) -> Path:
    """Writes the job's script and its environment file into ``logs/`` (both 0600);
    returns the script."""
    write_private(logs / ENV_FILE, job_environment(spec))
    script = logs / JOB_SCRIPT
    write_private(script, job_script(spec, logs, run_id))
    return script


def array_script(scripts: Sequence[Path]) -> str:
    """The script of an array job: task ``i`` runs the ``i``-th model run's script."""
    lines = [
        "#!/bin/sh",
        "# An array job of ferrotrack's slurm run backend: task i runs model run i's script.",
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    lines += [f"  {i}) exec /bin/sh {shlex.quote(str(s))} ;;" for i, s in enumerate(scripts)]
    lines += [
        '  *) echo "no model run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
        "esac",
    ]
    return "\n".join(lines) + "\n"


def sbatch_options(config: SlurmConfig, timeout: float | None) -> list[str]:
    """The resource options of ``config``; without ``time_limit`` a ``timeout`` becomes a
    ``--time`` backstop (whole minutes, plus one) so Slurm ends the job if we cannot."""
    args = [
        f"--nodes={config.nodes}",
        f"--ntasks={config.ntasks}",
        f"--cpus-per-task={config.cpus_per_task}",
    ]
    if config.partition:
        args.append(f"--partition={config.partition}")
    if config.time_limit is not None:
        args.append(f"--time={config.time_limit}")
    elif timeout is not None:
        args.append(f"--time={math.ceil(timeout / 60) + 1}")
    for name, value in (("mem", config.mem), ("account", config.account), ("qos", config.qos)):
        if value:
            args.append(f"--{name}={value}")
    return [*args, *config.additional_options]


def _pattern(path: Path) -> str:
    """``path`` as sbatch's ``--output``/``--error`` take it: each ``%`` doubled, since
    sbatch expands ``%j``, ``%a``... there (also in a folder given by ``--chdir`` when the
    name is relative). A backslash turns that expansion off (and is dropped): refused."""
    text = str(path)
    if "\\" in text:
        raise SlurmError(f"a backslash in {text} cannot be given to sbatch's --output")
    return text.replace("%", "%%")


def _sbatch(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs ``sbatch --parsable ...``. sbatch leads a session of its own, so a Ctrl-C at
    the terminal reaches only us; on any exception it is let finish (up to its timeout)
    before the exception goes on, so the job is either in the queue, to be found by
    :func:`_cancel_submitted`, or never will be."""
    conf = os.environ.get("SLURM_CONF")
    if conf and not Path(conf).is_file():  # else sbatch retries for a minute
        raise SlurmError(f"SLURM_CONF points at {conf}, which is not a file")
    try:
        return run_client(["sbatch", "--parsable", *argv], cwd=cwd, timeout=CLI_TIMEOUT_S)
    except FileNotFoundError:
        raise SlurmError(MISSING_SBATCH) from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"sbatch did not answer within {CLI_TIMEOUT_S:.0f} s") from None


def _submit(argv: list[str], workdir: Path) -> str:
    """Submits with ``--chdir=workdir`` (a folder of this submission only: it tags the
    job) and returns the job id. Whatever interrupts the submission (Ctrl-C above all)
    cancels a job the controller accepted before it is raised again."""
    try:
        done = _sbatch(["--export=ALL", f"--chdir={workdir}", *argv], workdir)
    except SlurmError:
        raise
    except BaseException:
        left = _cancel_submitted(workdir)
        if left:
            logger.warning("slurm: %s", left)
        raise
    job_id = done.stdout.strip().split(";", 1)[0]
    if done.returncode != 0 or not job_id.isdigit():
        said = _said(done)
        if "Unable to contact slurm controller" in said:
            conf = os.environ.get("SLURM_CONF") or "the default slurm.conf"
            raise SlurmError(f"Slurm controller not reachable (configured by {conf}): {said}")
        raise SlurmError(f"sbatch refused the job: {said}")
    return job_id


def _cancel_submitted(workdir: Path) -> str | None:
    """Cancels (and waits for) the jobs of this user whose working folder is ``workdir``:
    a submission whose id we never read."""
    try:
        done = _client("squeue", "-h", "-u", str(os.getuid()), "-o", "%F|%Z")
    except SlurmError as exc:
        return f"cannot look for the interrupted submission: {exc}"
    if done.returncode != 0:
        return f"cannot look for the interrupted submission: squeue: {_said(done)}"
    ids = []
    for line in done.stdout.splitlines():
        job, _, folder = line.partition("|")
        if folder.strip() == str(workdir) and job.strip().isdigit():
            ids.append(job.strip())
    return _cancel_and_wait(ids) if ids else None


# -- watching ------------------------------------------------------------------------------


@dataclass
class _Task:
    """One model run's job (or array task) being watched."""

    execution: Execution
    spec: CommandSpec
    timeout: float | None
    job: str = ""
    started: float | None = None
    ended_at: float | None = None
    """When Slurm was first seen saying the job ended while no exit code was there."""
    result: ProcessResult | None = None
    reason: str | None = None
    recorded: bool = False

    @property
    def logs(self) -> Path:
        return _absolute(self.execution.logs_dir)

    def duration(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def finish(self, result: ProcessResult, reason: str | None = None) -> None:
        self.result = result
        self.reason = reason

    def drop_environment(self) -> None:
        """Removes the job's environment file (its values may be secrets)."""
        with contextlib.suppress(OSError):
            (self.logs / ENV_FILE).unlink(missing_ok=True)

    def command_text(self) -> str:
        argv = self.spec.argv
        return argv[2] if argv[:2] == ["/bin/sh", "-c"] and len(argv) > 2 else argv[0]


def _read_exit(task: _Task) -> ProcessResult | None:
    """The result recorded by the script, if it has been."""
    path = task.logs / EXIT_CODE
    try:
        text = path.read_text().strip()
        ended = path.stat().st_mtime
    except FileNotFoundError:
        return None
    code = int(text) if text.lstrip("-").isdigit() else None
    duration = task.duration()
    with contextlib.suppress(OSError):
        duration = max(0.0, ended - (task.logs / STARTED).stat().st_mtime)
    error = None
    with contextlib.suppress(FileNotFoundError):
        error = (task.logs / SCRIPT_ERROR).read_text().strip() or None
    if error is None and code == NOT_FOUND:
        error = f"command not found (exit status {NOT_FOUND}): {task.command_text()}"
    elif error is None and code == NOT_EXECUTABLE:
        error = f"not executable (exit status {NOT_EXECUTABLE}): {task.command_text()}"
    return ProcessResult(exit_code=code, duration=duration, error=error, extra=_extra(task))


def _extra(task: _Task, state: str | None = None) -> dict[str, str]:
    extra = {"slurm_job": task.job}
    if state:
        extra["slurm_state"] = state
    return extra


def _from_state(task: _Task, seen: JobState) -> tuple[ProcessResult, str]:
    """The result of a job that ended without the script recording an exit code."""
    extra = _extra(task, seen.state)
    duration = task.duration()
    if seen.state == "TIMEOUT":
        why = f"Slurm ended job {task.job} at its time limit (state TIMEOUT)"
        return ProcessResult(seen.exit_code, duration, timed_out=True, extra=extra), why
    if seen.state in {"CANCELLED", "PREEMPTED", "DEADLINE"}:
        why = f"job {task.job} was {seen.state.lower()} by Slurm or someone else (scancel)"
        return ProcessResult(seen.exit_code, duration, cancelled=True, extra=extra), why
    why = (
        f"job {task.job} ended {seen.state} (ExitCode {seen.exit_code}:{seen.signal or 0}, "
        f"reason {seen.reason or 'none'}) before its script recorded an exit code; see "
        f"{task.logs / 'stderr.txt'}"
    )
    return ProcessResult(seen.exit_code, duration, error=why, extra=extra), why


class _Watch:
    """Polls the shared folder often and the controller every ``poll_interval`` until every
    task has a result; records each run as soon as its task ends."""

    def __init__(self, tasks: list[_Task], jobs: list[str], poll_interval: float) -> None:
        self.tasks = tasks
        self.jobs = jobs
        self.poll_interval = poll_interval
        self.next_ask = 0.0
        self.unknown_since: dict[str, float] = {}

    def run(self) -> None:
        while True:
            pending = [t for t in self.tasks if t.result is None]
            if not pending:
                break
            now = time.monotonic()
            for task in pending:
                self._look(task, now)
            if now >= self.next_ask or any(t.ended_at is not None for t in pending):
                self.next_ask = now + self.poll_interval
                states = job_states(self.jobs)
                if states is not None:
                    for task in pending:
                        if task.result is None:
                            self._judge(task, states.get(task.job), now)
            self._record_done()
            if any(t.result is None for t in self.tasks):
                time.sleep(FILE_POLL_S)
        self._record_done()
        left = _wait_gone(self.jobs)
        if left:
            logger.warning("slurm: %s", left)

    def _look(self, task: _Task, now: float) -> None:
        if task.started is None and (task.logs / STARTED).exists():
            task.started = now
        result = _read_exit(task)
        asked = bool(task.spec.cancel_file) and os.path.exists(str(task.spec.cancel_file))
        if result is not None:
            if asked and not result.ok:  # ended by a scancel of cancel_all() racing us
                why = f"cancelled; Slurm job {task.job} was cancelled (scancel)"
                task.finish(dataclasses.replace(result, cancelled=True, error=None), why)
            else:
                task.finish(*self._signalled(task, result))
            return
        if asked:
            left = _scancel_now(task.job)
            why = f"cancelled; Slurm job {task.job} was cancelled (scancel)"
            result = ProcessResult(
                None, task.duration(), cancelled=True, error=left, extra=_extra(task)
            )
            task.finish(result, why if left is None else f"{why}, but {left}")
            return
        running = None if task.started is None else now - task.started
        if task.timeout is not None and running is not None and running >= task.timeout:
            left = _scancel_now(task.job)
            why = (
                f"timed out after {task.timeout:g} s of running; Slurm job {task.job} "
                "was cancelled (scancel)"
            )
            result = ProcessResult(
                None, task.duration(), timed_out=True, error=left, extra=_extra(task)
            )
            task.finish(result, why if left is None else f"{why}, but {left}")

    def _signalled(self, task: _Task, result: ProcessResult) -> tuple[ProcessResult, str | None]:
        """A command that ended with a status of 128 + N was killed by signal N: by
        Slurm (cancel, time limit, as scontrol says) or by something else (OOM...)."""
        code = result.exit_code
        if code is None or code <= 128 or result.error:
            return result, None
        name = _signal_name(code - 128)
        if name is None:
            return result, None
        seen = (job_states([task.job]) or {}).get(task.job)
        if seen is not None and seen.state == "TIMEOUT":
            why = f"Slurm ended job {task.job} at its time limit (the command got {name})"
            return dataclasses.replace(result, timed_out=True), why
        if seen is not None and seen.state in {"CANCELLED", "PREEMPTED", "DEADLINE"}:
            why = (
                f"job {task.job} was {seen.state.lower()} by Slurm or someone else "
                f"(scancel; the command got {name})"
            )
            return dataclasses.replace(result, cancelled=True), why
        why = f"killed by {name} (exit status {code})"
        return dataclasses.replace(result, signal=name), why

    def _judge(self, task: _Task, seen: JobState | None, now: float) -> None:
        """What the controller says, for a task whose script recorded nothing yet."""
        if seen is None:
            first = self.unknown_since.setdefault(task.job, now)
            if now - first > EXIT_FILE_LAG_S:
                why = (
                    f"Slurm no longer knows job {task.job} and its script recorded no exit "
                    f"code in {task.logs} (is the folder shared with the compute nodes?)"
                )
                task.finish(ProcessResult(None, task.duration(), error=why, extra=_extra(task)))
            return
        self.unknown_since.pop(task.job, None)
        if seen.active:
            task.ended_at = None
            return
        if seen.state in LAGGING_STATES:
            if task.ended_at is None:
                task.ended_at = now
            if now - task.ended_at < EXIT_FILE_LAG_S:
                return
        result, why = _from_state(task, seen)
        task.finish(result, why)

    def _record_done(self) -> None:
        for task in self.tasks:
            if task.result is not None and not task.recorded:
                task.recorded = True
                task.drop_environment()
                task.execution.record(task.result, reason=task.reason)


def _scancel_now(job: str) -> str | None:
    """``scancel`` without waiting: the watch goes on with the other tasks and waits for
    every job to leave the queue once, at its end."""
    try:
        return _scancel([job])
    except SlurmError as exc:
        return str(exc)


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def _wait_gone(job_ids: list[str]) -> str | None:
    """Waits (polling, with a deadline) until squeue lists none of the jobs: a job whose
    script has exited may still be completing."""
    deadline = time.monotonic() + GONE_DEADLINE_S
    while True:
        try:
            left = _queued(job_ids)
        except SlurmError as exc:
            return str(exc)
        if left == []:
            return None
        if time.monotonic() > deadline:
            return f"jobs still queued {GONE_DEADLINE_S:.0f} s after they ended: {left}"
        time.sleep(FILE_POLL_S)


# -- the backend ---------------------------------------------------------------------------


class SlurmBackend(CommandBackend):
    """Submits the model run as a Slurm batch job (many as one array job) and watches it
    until it ends; a timeout, a cancel, Ctrl-C or an exception cancels the job (scancel)."""

    backend_name = "slurm"
    config_class = SlurmConfig

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, str] = {}
        """Run id -> the Slurm job (or array task) running it."""
        self._arrays: set[str] = set()

    @classmethod
    def check_available(cls) -> None:
        """``ferrotrack backends list`` shows the backend unavailable without ``sbatch``."""
        if shutil.which("sbatch") is None:
            raise MissingDependencyError(f"the slurm run backend: {MISSING_SBATCH}")

    # -- one model run -------------------------------------------------------------------

    def execute(self, execution: Execution, model_run: Any, config: Any) -> bool:
        assert isinstance(config, SlurmConfig)
        task = self._task(execution, config)
        if task is None:
            return execution.succeed("no command: the inputs were generated, nothing was run")
        try:
            script = write_job(task.spec, task.logs, execution.model.run_id)
            name = config.job_name or f"ferrotrack-{execution.model.run_id}"
            argv = [
                f"--job-name={name}",
                f"--output={_pattern(task.logs / 'stdout.txt')}",
                f"--error={_pattern(task.logs / 'stderr.txt')}",
                "--open-mode=append",
                *sbatch_options(config, task.timeout),
                str(script),
            ]
            try:
                task.job = _submit(argv, task.logs)
            except BaseException:
                task.drop_environment()
                raise
        except (SlurmError, OSError) as exc:
            return execution.fail(str(exc))
        try:
            self._started(task)
            _Watch([task], [task.job], config.poll_interval).run()
        except BaseException:
            left = _cancel_and_wait([task.job])
            if left:
                logger.warning("slurm: %s", left)
            raise
        finally:
            task.drop_environment()
            self._ended([task])
        assert task.result is not None
        return task.result.ok

    def on_interrupt(self, execution: Execution) -> None:
        """Cancels the job running ``execution`` (without waiting: :meth:`cancel_all` and
        :meth:`execute` wait)."""
        with self._lock:
            job = self._jobs.get(execution.run.run_id)
        if job:
            with contextlib.suppress(SlurmError):
                _scancel([job])

    def cancel_all(self) -> None:
        """Cancels every job and array job this backend has running and waits until squeue
        lists none of them.

        Whole jobs and arrays are cancelled first, in one ``scancel``: asking each
        execution to end first made the watcher cancel running array tasks one by one, and
        the controller could start a pending task in a slot so freed just before its array
        was cancelled, a launch its cancel could miss (a command left running)."""
        with self._lock:
            jobs = [*self._jobs.values(), *self._arrays]
        with contextlib.suppress(SlurmError):
            _scancel(jobs)  # what it could not do, the wait below reports
        super().cancel_all()
        left = _cancel_and_wait(jobs)
        if left:
            logger.warning("slurm: %s", left)

    # -- many model runs: one array job --------------------------------------------------

    def run_many(
        self, model_runs: Sequence[Any], *, max_concurrency: int | None = None, **kwargs: Any
    ) -> list[bool]:
        """Runs the model runs as ONE array job (``--array=0-N%limit``), task ``i`` running
        model run ``i``, each its own ferrotrack run; one bool each, in order.

        The limit is the smaller of ``max_concurrency`` and the config's
        ``max_array_concurrency`` (none when neither is set). Ctrl-C or an exception cancels
        the whole array and waits until squeue no longer lists it, then is raised again.
        """
        if max_concurrency is not None and max_concurrency < 1:
            raise InvalidArgumentError(f"max_concurrency: expected >= 1, got {max_concurrency}")
        if not model_runs:
            return []
        config = kwargs.pop("config", None)
        if config is None:
            config = self.make_config(model_runs[0], kwargs)
        elif kwargs:
            config = self.make_config(model_runs[0], {**config.model_dump(), **kwargs})
        assert isinstance(config, SlurmConfig)
        limits = [n for n in (max_concurrency, config.max_array_concurrency) if n is not None]
        results = [False] * len(model_runs)
        tasks: list[tuple[int, _Task]] = []
        opened: list[Execution] = []
        try:
            for index, model_run in enumerate(model_runs):
                execution = start_execution(model_run, self.backend_name, config)
                opened.append(execution)
                try:
                    model_run.generate()
                except Exception as exc:
                    execution.fail(f"generate() failed: {type(exc).__name__}: {exc}")
                    continue
                task = self._task(execution, config)
                if task is None:
                    results[index] = execution.succeed(
                        "no command: the inputs were generated, nothing was run"
                    )
                    continue
                tasks.append((index, task))
            if tasks:
                self._run_array([t for _, t in tasks], config, min(limits) if limits else None)
        except BaseException as exc:
            for execution in opened:
                if execution.run.status == "running":
                    if isinstance(exc, KeyboardInterrupt):
                        execution.interrupted()
                    else:
                        execution.fail(f"{type(exc).__name__}: {exc}")
            raise
        for index, task in tasks:
            results[index] = task.result is not None and task.result.ok
        return results

    def _run_array(self, tasks: list[_Task], config: SlurmConfig, limit: int | None) -> None:
        first = tasks[0].execution.model
        folder = (
            _absolute(first.output_dir)
            / ARRAYS_DIR
            / (f"array-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}")
        )
        links = folder / "tasks"
        try:
            links.mkdir(parents=True)
            scripts = []
            for i, task in enumerate(tasks):
                scripts.append(write_job(task.spec, task.logs, task.execution.model.run_id))
                (links / str(i)).symlink_to(task.logs, target_is_directory=True)
            main = folder / "array.sh"
            write_private(main, array_script(scripts))
            span = f"0-{len(tasks) - 1}" + (f"%{limit}" if limit else "")
            name = config.job_name or f"ferrotrack-array-{first.run_id}"
            timeouts = [t.timeout for t in tasks if t.timeout is not None]
            argv = [
                f"--array={span}",
                f"--job-name={name}",
                f"--output={_pattern(links)}/%a/stdout.txt",
                f"--error={_pattern(links)}/%a/stderr.txt",
                "--open-mode=append",
                *sbatch_options(config, max(timeouts) if timeouts else None),
                str(main),
            ]
            try:
                array = _submit(argv, folder)
            except BaseException:
                for task in tasks:
                    task.drop_environment()
                raise
        except (SlurmError, OSError) as exc:
            for task in tasks:
                task.execution.fail(str(exc))
                task.recorded = True
            return
        for i, task in enumerate(tasks):
            task.job = f"{array}_{i}"
        with self._lock:
            self._arrays.add(array)
        watch = _Watch(tasks, [array], config.poll_interval)
        try:
            self._started(*tasks)
            watch.run()
        except BaseException:
            left = _cancel_and_wait([array])
            if left:
                logger.warning("slurm: %s", left)
            raise
        finally:
            for task in tasks:
                task.drop_environment()
            self._ended(tasks)
            with self._lock:
                self._arrays.discard(array)

    # -- shared ----------------------------------------------------------------------------

    def _task(self, execution: Execution, config: SlurmConfig) -> _Task | None:
        """The command of ``execution`` as a task to submit, or ``None`` when there is none."""
        model = execution.model
        command = config.command if config.command is not None else model.command
        if command is None:
            return None
        timeout = config.timeout if config.timeout is not None else model.timeout
        spec = execution.command_spec(
            command_argv(command),
            cwd=config.work_dir,
            extra_env=config.env_vars,
            timeout=timeout,
            grace=config.grace,
        )
        for stale in (STARTED, EXIT_CODE, SCRIPT_ERROR):
            (_absolute(execution.logs_dir) / stale).unlink(missing_ok=True)
        return _Task(execution=execution, spec=spec, timeout=timeout)

    def _started(self, *tasks: _Task) -> None:
        with self._lock:
            for task in tasks:
                self._jobs[task.execution.run.run_id] = task.job
                self._live.setdefault(task.execution.run.run_id, task.execution)
        for task in tasks:
            task.execution.run.set_tags({"ferrotrack.slurm_job": task.job})

    def _ended(self, tasks: Sequence[_Task]) -> None:
        with self._lock:
            for task in tasks:
                self._jobs.pop(task.execution.run.run_id, None)
                self._live.pop(task.execution.run.run_id, None)
