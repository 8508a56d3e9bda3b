"""The ``docker`` run backend: the model run's command in a container on a Docker engine.

Docker is driven through its CLI (no Python library). The container is created first and
then attached to (``docker start -a``) as the timed process, so it exists by name before
anything can time out or be cancelled: killing a ``docker`` CLI does not stop its container,
so on a timeout, a cancel or Ctrl-C the backend removes the container itself (``docker rm
-f``) and waits until the engine no longer lists it.

The model run's folder and the ferrotrack run's folder are mounted at the same paths inside,
so ``FERROTRACK_RUN_DIR``, the inputs ``generate()`` wrote and the outputs the model writes
mean the same on both sides.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import MissingDependencyError
from ferrotrack.core.run import RUN_DIR_ENV
from ferrotrack.run.backends.base import CommandBackend
from ferrotrack.run.configs.docker import DockerConfig, parse_volume
from ferrotrack.run.execution import Execution, ModelView
from ferrotrack.run.process import CommandSpec, ProcessResult, run_client, run_command

__all__ = [
    "DockerBackend",
    "DockerError",
    "build_tag",
    "container_command",
    "container_name",
    "docker_cli",
    "missing_cli",
]

logger = logging.getLogger("ferrotrack.run.docker")

CLI_VARIABLE = "FERROTRACK_DOCKER"
"""Names the ``docker`` client to use, when set."""
DEBIAN_CLI = "/usr/bin/docker"
"""Debian's client (``docker.io``), of the same version as Debian's daemon."""
CLI_TIMEOUT_S = 60.0
"""For the short CLI calls (version, inspect, create, rm)."""
REMOVAL_DEADLINE_S = 30.0
"""How long a container may take to disappear once removed."""
BUILD_LOG = "build.txt"
DOCKER_CODES = {125: "docker could not run the container", 126: "not executable", 127: "not found"}
"""Exit codes that come from docker or the container runtime, not from the model."""


_BUILD_LOCKS: dict[str, threading.Lock] = {}
"""One build of a tag at a time in this process (a sweep's runs share the image)."""
_BUILD_GUARD = threading.Lock()


class DockerError(RuntimeError):
    """A docker step that failed before the model ran (the message is the run's reason)."""


def docker_cli() -> str | None:
    """The ``docker`` client: ``$FERROTRACK_DOCKER``, else Debian's (the daemon's version,
    what ``scripts/system/docker.sh`` installs), else the first on ``PATH``; ``None`` when
    there is none."""
    named = os.environ.get(CLI_VARIABLE)
    if named:
        return shutil.which(named)
    if os.access(DEBIAN_CLI, os.X_OK):
        return DEBIAN_CLI
    return shutil.which("docker")


def missing_cli() -> str:
    """Why :func:`docker_cli` found nothing, and what to do."""
    named = os.environ.get(CLI_VARIABLE)
    if named:
        return f"docker CLI not found: {CLI_VARIABLE}={named} is not an executable"
    return (
        "docker CLI not found: install Docker (Debian: apt-get install docker.io) or set "
        f"{CLI_VARIABLE} to the client's path"
    )


def _docker(cli: str, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A short docker call, its output captured (never the model's command)."""
    return subprocess.run(
        [cli, *args],
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def _say(done: subprocess.CompletedProcess[str]) -> str:
    """The last line docker said (its error), for a reason."""
    said = done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}"
    return said.splitlines()[-1]


def build_tag(dockerfile: Path, context: Path, build_args: Mapping[str, str]) -> str:
    """The tag of a build: a hash of the Dockerfile, the build arguments and the context's
    files (path, size, mtime), so a build happens once until one of them changes."""
    digest = hashlib.sha256()
    digest.update(dockerfile.read_bytes())
    digest.update(str(dockerfile.resolve()).encode())
    digest.update(json.dumps(sorted(build_args.items())).encode())
    for path in sorted(context.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(
                f"{path.relative_to(context)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return f"ferrotrack-build:{digest.hexdigest()[:16]}"


def container_command(model: ModelView, config: DockerConfig) -> list[str] | None:
    """What runs in the container: ``executable`` (split like a shell line), else the model
    run's command (a string through ``/bin/sh -c``), else ``None`` (the image's ``CMD``);
    behind ``mpiexec [-n cpu]`` when ``mpiexec`` is set."""
    if config.executable is not None:
        argv: list[str] | None = shlex.split(config.executable)
    elif isinstance(model.command, str):
        argv = ["/bin/sh", "-c", model.command]
    elif model.command is not None:
        argv = [str(part) for part in model.command]
    else:
        argv = None
    if config.mpiexec is None:
        return argv
    if argv is None:
        raise DockerError("'mpiexec' needs something to run: 'executable' or the model's command")
    ranks = [] if config.cpu is None else ["-n", str(config.cpu)]
    return [*shlex.split(config.mpiexec), *ranks, *argv]


def _bind(source: Path, target: Path | str, *, read_only: bool = False) -> list[str]:
    """A ``--mount`` of a host folder (CSV-quoted: paths may hold ``,``, ``=`` or ``:``)."""
    fields = ["type=bind", f"source={source}", f"target={target}"]
    if read_only:
        fields.append("readonly")
    line = io.StringIO()
    csv.writer(line, lineterminator="").writerow(fields)
    return ["--mount", line.getvalue()]


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclasses.dataclass(frozen=True)
class _Job:
    """One execution's docker facts, fixed when it starts (paths made absolute once)."""

    cli: str
    env: dict[str, str]
    config: DockerConfig
    execution: Execution
    staging: Path
    timeout: float | None

    @property
    def name(self) -> str:
        return container_name(self.execution)

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _docker(self.cli, self.env, *args)


class DockerBackend(CommandBackend):
    """Runs the model run in a Docker container (an image, or one built from a Dockerfile);
    on a timeout, cancel or Ctrl-C the container is removed, not only its client."""

    backend_name = "docker"
    config_class = DockerConfig

    def __init__(self) -> None:
        super().__init__()
        self._containers: dict[str, _Job] = {}
        self._containers_lock = threading.Lock()

    @classmethod
    def check_available(cls) -> None:
        """``ferrotrack backends list`` shows the backend unavailable without a client."""
        if docker_cli() is None:
            raise MissingDependencyError(f"the docker run backend: {missing_cli()}")

    def execute(self, execution: Execution, model_run: Any, config: Any) -> bool:
        assert isinstance(config, DockerConfig)
        cli = docker_cli()
        if cli is None:
            return execution.fail(missing_cli())
        env = execution.environment(config.env_vars)
        env.setdefault("DOCKER_BUILDKIT", "0")  # the classic builder: no buildx plugin needed
        job = _Job(
            cli=cli,
            env=env,
            config=config,
            execution=execution,
            staging=execution.model.staging_dir.absolute(),
            timeout=config.timeout if config.timeout is not None else execution.model.timeout,
        )
        try:
            _check_daemon(job)
            image = _build(job) if config.dockerfile is not None else str(config.image)
            _check_image(job, image)
            create = _create_args(job, image)
        except DockerError as exc:
            return execution.fail(str(exc))
        except _BuildStopped as stopped:
            return execution.record(stopped.result, reason=stopped.reason)
        return self._run_container(job, create, image)

    def _run_container(self, job: _Job, create: list[str], image: str) -> bool:
        """``docker create``, then ``docker start --attach`` as the timed, cancellable
        process; whatever ends it other than its own success removes the container (or,
        with ``remove=False``, stops it), and so does any exception from ``create`` on."""
        execution = job.execution
        with self._containers_lock:
            self._containers[execution.run.run_id] = job
        try:
            try:
                done = _create(job, create)
            except subprocess.TimeoutExpired:
                left = _remove(job)
                why = f"docker create did not answer within {CLI_TIMEOUT_S:.0f} s"
                return execution.fail(why if left is None else f"{why}; {left}")
            if done.returncode != 0:
                _remove(job)  # a create that failed half way may still have left one
                return execution.fail(f"docker create failed: {_say(done)}")
            spec = execution.command_spec(
                [job.cli, "start", "--attach", job.name],
                cwd=job.staging,
                timeout=job.timeout,
                grace=job.config.grace,
            )
            result = run_command(dataclasses.replace(spec, env=job.env))
            if not result.ok and execution.cancel_file.exists():
                # cancel_all() removes the container as it touches the cancel file: the
                # client may see the container die before it sees the file
                result = dataclasses.replace(result, cancelled=True)
            if not result.ok:  # a dead client (docker's 125...) may leave it running
                left = _remove(job)
                if left:
                    result = dataclasses.replace(result, error=left)
            elif job.config.remove:
                _wait_gone(job)
            result = dataclasses.replace(
                result, extra={**result.extra, "container": job.name, "image": image}
            )
            return execution.record(result, reason=_reason(result, execution))
        except BaseException:  # Ctrl-C above all: the container goes before it is raised
            _remove(job)
            raise
        finally:
            with self._containers_lock:
                self._containers.pop(execution.run.run_id, None)

    def on_interrupt(self, execution: Execution) -> None:
        """Ctrl-C or :meth:`cancel_all`: the container goes too, not only its client."""
        with self._containers_lock:
            job = self._containers.get(execution.run.run_id)
        if job is not None:
            _remove(job)


# -- the engine and the image ----------------------------------------------------------


def _check_daemon(job: _Job) -> None:
    done = job.docker("version", "--format", "{{.Server.Version}}")
    if done.returncode != 0 or not done.stdout.strip():
        host = job.env.get("DOCKER_HOST") or "the default socket"
        raise DockerError(f"docker daemon not reachable at {host}: {_say(done)}")


def _check_image(job: _Job, image: str) -> None:
    if job.docker("image", "inspect", "--format", "{{.Id}}", image).returncode != 0:
        raise DockerError(
            f"image {image} not found locally (no registry is reachable? build it or "
            "docker load it)"
        )


def _build(job: _Job) -> str:
    """Builds the Dockerfile once per content (tagged by :func:`build_tag`); the build's
    output goes to ``logs/build.txt``. Returns the tag."""
    config = job.config
    assert config.dockerfile is not None
    dockerfile = Path(config.dockerfile).expanduser().absolute()
    if not dockerfile.is_file():
        raise DockerError(f"dockerfile {config.dockerfile} not found (looked at {dockerfile})")
    context = Path(config.build_context or dockerfile.parent).expanduser().absolute()
    if not context.is_dir():
        raise DockerError(f"build_context {context} is not a folder")
    tag = build_tag(dockerfile, context, config.build_args)
    log = job.execution.logs_dir / BUILD_LOG
    with _BUILD_GUARD:
        lock = _BUILD_LOCKS.setdefault(tag, threading.Lock())
    with lock:
        if job.docker("image", "inspect", "--format", "{{.Id}}", tag).returncode == 0:
            logger.info("docker: %s already built as %s", dockerfile, tag)
            return tag
        argv = [job.cli, "build", "--force-rm", "-t", tag, "-f", str(dockerfile)]
        argv += [a for name in config.build_args for a in ("--build-arg", name)]
        argv += ["--label", f"ferrotrack.dockerfile={dockerfile}", str(context)]
        spec = CommandSpec(
            argv=argv,
            cwd=str(context),
            env={**job.env, **config.build_args},  # --build-arg NAME reads the value here
            stdout=str(log),
            stderr=str(log),
            timeout=job.timeout,
            grace=config.grace,
            cancel_file=str(job.execution.cancel_file),
        )
        result = run_command(spec)
    if result.ok:
        return tag
    why = f"docker build of {dockerfile} {result.reason()}; see {log}: {_tail(log)}"
    if result.cancelled or result.timed_out:
        raise _BuildStopped(result, why)
    raise DockerError(why)


# -- the container ---------------------------------------------------------------------


def _create_args(job: _Job, image: str) -> list[str]:
    """The ``docker create`` command line (env values stay out of it: ``-e NAME`` reads
    each from the client's environment)."""
    config, execution = job.config, job.execution
    model = execution.model
    run_dir = execution.run.run_dir.absolute()
    host_work = _host_work_dir(model, config)
    if config.work_dir is not None:
        inside = job.staging / config.work_dir  # a folder inside; an absolute one stays
    else:
        inside = job.staging if host_work is None else host_work
    args = [job.cli, "create", "--name", job.name, "--pull", "never"]
    args += ["--label", f"ferrotrack.run_id={execution.run.run_id}"]
    args += ["--label", f"ferrotrack.model_run={model.run_id}"]
    args += ["--network", config.network, "--workdir", str(inside)]
    if _inside(job.staging, run_dir):
        args += _bind(run_dir, run_dir)
    else:
        args += _bind(job.staging, job.staging)
        if not _inside(run_dir, job.staging):
            args += _bind(run_dir, run_dir)
    if host_work is not None and not any(_inside(host_work, f) for f in (job.staging, run_dir)):
        args += _bind(host_work, host_work)
    args += _volumes(config)
    for name in sorted({*model.env_vars, *config.env_vars, RUN_DIR_ENV}):
        args += ["-e", name]
    if config.cpu is not None:
        args += ["--cpus", str(_cpus(job, config.cpu))]
    if config.user is not None:
        args += ["--user", config.user]
    if config.init:
        args.append("--init")
    if config.remove:
        args.append("--rm")
    args += config.docker_args
    args.append(image)
    args += container_command(model, config) or []
    return args


def _create(job: _Job, create: list[str]) -> subprocess.CompletedProcess[str]:
    """Runs ``docker create`` (:func:`run_client`: let finish on any exception, so the
    container either exists, to be removed, or never will)."""
    return run_client(create, cwd=job.staging, env=job.env, timeout=CLI_TIMEOUT_S)


def _host_work_dir(model: ModelView, config: DockerConfig) -> Path | None:
    """The model run's ``work_dir``: a host folder, mounted at its own (resolved) path so
    what the model writes there stays; ``None`` when the config's ``work_dir`` (a folder
    inside the container) wins, or there is none."""
    if config.work_dir is not None or model.work_dir is None:
        return None
    host = Path(model.work_dir).expanduser().resolve()
    if not host.is_dir():
        raise DockerError(f"work_dir {model.work_dir} is not a folder on this host ({host})")
    return host


def _volumes(config: DockerConfig) -> list[str]:
    args: list[str] = []
    for spec in config.volumes:
        volume = parse_volume(spec)
        if not volume.is_path:
            args += ["-v", spec]  # a named volume
            continue
        host = Path(volume.host).expanduser().absolute()
        if not host.exists():
            raise DockerError(f"volume {spec!r}: host path {host} does not exist")
        args += _bind(host, volume.container, read_only=volume.read_only)
    return args


def _cpus(job: _Job, wanted: int) -> int:
    """``wanted``, or the engine's CPU count when it has fewer (docker refuses more)."""
    try:
        have = int(job.docker("info", "--format", "{{.NCPU}}").stdout.strip())
    except ValueError:
        return wanted
    if wanted <= have:
        return wanted
    ranks = f"; mpiexec -n stays {wanted}" if job.config.mpiexec else ""
    logger.warning(
        "docker: cpu=%d but the engine has %d CPUs: the container gets --cpus %d%s",
        wanted,
        have,
        have,
        ranks,
    )
    return have


def _reason(result: ProcessResult, execution: Execution) -> str | None:
    """Why it failed; for docker's own exit codes, with the last line of stderr."""
    why = result.reason()
    if why is not None and result.exit_code in DOCKER_CODES and not result.timed_out:
        why = f"{why} ({DOCKER_CODES[result.exit_code]}): {_tail(execution.stderr)}"
    return why


def _remove(job: _Job) -> str | None:
    """Stops the container (removes it unless ``remove=False``), then waits until the
    engine agrees; what is left, in words, or ``None``."""
    if job.config.remove:
        job.docker("rm", "-f", job.name)
    else:
        job.docker("kill", job.name)
    return _wait_gone(job, running_only=not job.config.remove)


def _wait_gone(job: _Job, *, running_only: bool = False) -> str | None:
    deadline = time.monotonic() + REMOVAL_DEADLINE_S
    while True:
        try:
            state = _state(job)
        except (DockerError, subprocess.SubprocessError) as exc:
            return str(exc)
        if state is None or (running_only and state not in ("running", "restarting")):
            return None
        if time.monotonic() > deadline:
            logger.error("docker: container %s is still %s", job.name, state)
            return f"container {job.name} still {state} {REMOVAL_DEADLINE_S:.0f} s after removal"
        time.sleep(0.05)  # polling the engine's answer, bounded by the deadline above


class _BuildStopped(Exception):
    """A build ended by a timeout or a cancel (the run is recorded as such)."""

    def __init__(self, result: ProcessResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


def container_name(execution: Execution) -> str:
    """``ft-<ferrotrack run id>``: unique per execution, found again by name to remove it."""
    return f"ft-{execution.run.run_id}"


def _state(job: _Job) -> str | None:
    """The container's state (``running``, ``exited``...), or ``None`` when it is gone."""
    done = job.docker("container", "inspect", "--format", "{{.State.Status}}", job.name)
    if done.returncode == 0:
        return done.stdout.strip() or "unknown"
    if "no such" in done.stderr.lower():
        return None
    raise DockerError(f"docker container inspect {job.name}: {_say(done)}")


def _tail(path: Path, size: int = 4096) -> str:
    """The last non-empty line of a log file (``''`` when there is none)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - size))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")
