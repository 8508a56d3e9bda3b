"""A real Docker engine and the images the docker backend's tests run, as pytest fixtures.

Test modules import the fixtures explicitly (``from docker_engine import docker_engine,
docker_images  # noqa: F401``). ``docker_engine`` makes sure a daemon answers, starting a
private one as root when none does (Debian's ``dockerd``, with its own data root, exec root,
pid file, socket and containerd namespace, so it never meets a system daemon), and leaves it
running for later sessions. It FAILS, never skips, when no daemon can be had: CI starts it
through this module, after ``scripts/system/docker.sh`` installed ``docker.io`` and
``busybox-static``.

No registry is reachable, so every image is built ``FROM scratch`` with Debian's static
busybox: ``ferrotrack-test/busybox`` (plus an ``mpiexec`` *shim*: no MPI exists in such an
image), then ``rompy/schism`` and ``rompy/model``, which satisfy the guide's Docker blocks.

The daemon's address lives here only (:data:`HOST`); the fixture exports it as
``DOCKER_HOST`` for the session, which the backend's ``docker`` CLI (and every child
process) reads. ``FERROTRACK_TEST_DOCKER_HOST`` points the tests at another daemon instead;
the images it builds carry ``rompy/...`` names, so never point it at a daemon you care about.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from run_fixtures import wait_for as wait_until

__all__ = [
    "BUSYBOX_IMAGE",
    "HOST",
    "MODEL_IMAGE",
    "SCHISM_IMAGE",
    "DockerEngine",
    "docker",
    "docker_engine",
    "docker_images",
    "engine_env",
    "ensure_engine",
    "ensure_images",
    "unique",
    "wait_until",
    "write_model_dockerfile",
]

STATE_DIR = Path("/var/lib/ferrotrack-docker")
"""The private daemon's data root (images, containers): kept between sessions."""
RUNTIME_DIR = Path("/tmp/ferrotrack-docker")
"""Its exec root, socket, pid file and log."""
SOCKET = RUNTIME_DIR / "docker.sock"
HOST = f"unix://{SOCKET}"
"""Where the private daemon listens: the one place the tests' DOCKER_HOST comes from."""
OVERRIDE_VARIABLE = "FERROTRACK_TEST_DOCKER_HOST"
START_DEADLINE_S = 60.0
CONTAINERD_NAMESPACE = "ferrotrack-test"
"""The private daemon's containerd namespace (a system containerd may be shared)."""

BUSYBOX_IMAGE = "ferrotrack-test/busybox:latest"
SCHISM_IMAGE = "rompy/schism:latest"
MODEL_IMAGE = "rompy/model:latest"
BUSYBOX_BINARY = Path("/bin/busybox")
"""Debian's busybox-static: a static binary, so it runs in an image FROM scratch."""

HOW_TO_START = (
    "the docker backend's tests need a Docker daemon: run them as root after "
    "`bash scripts/system/docker.sh` (installs Debian's docker.io and busybox-static), so "
    "packages/ferrotrack-run/tests/docker_engine.py can start a private dockerd at "
    f"{HOST}, or set {OVERRIDE_VARIABLE} to a running daemon's address"
)


def docker_cli() -> str:
    """The ``docker`` client: Debian's (what ``scripts/system/docker.sh`` guarantees, and of
    the daemon's version) when present, else the first on ``PATH``."""
    from ferrotrack.run.backends.docker import docker_cli as backend_cli

    cli = backend_cli()
    if cli is None:
        raise RuntimeError(f"no docker client found; {HOW_TO_START}")
    return cli


def engine_env(host: str = HOST) -> dict[str, str]:
    """The variables the ``docker`` CLI needs to talk to the tests' daemon: its address, and
    the classic builder (no buildx plugin is installed; it builds with any daemon)."""
    return {"DOCKER_HOST": host, "DOCKER_BUILDKIT": "0"}


def docker(
    *args: str, host: str = HOST, timeout: float = 120.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Runs ``docker ARGS`` against ``host``; with ``check``, a failure raises with its stderr."""
    done = subprocess.run(
        [docker_cli(), *args],
        env={**os.environ, **engine_env(host)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}"
        )
    return done


def _answers(host: str) -> bool:
    try:
        return docker("info", host=host, timeout=10.0, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    """One process at a time (other pytest sessions may start the daemon or build at once)."""
    RUNTIME_DIR.mkdir(parents=True, exist_ok=True)
    with open(RUNTIME_DIR / name, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _start_private_daemon() -> None:
    """Starts ``dockerd`` detached (it outlives the session) and waits until it answers."""
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if not os.path.exists(dockerd):
        raise RuntimeError(f"no dockerd found; {HOW_TO_START}")
    if os.geteuid() != 0:
        raise RuntimeError(f"no daemon answers at {HOST} and this is not root; {HOW_TO_START}")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    pidfile = RUNTIME_DIR / "dockerd.pid"
    log = RUNTIME_DIR / "dockerd.log"
    launched = RUNTIME_DIR / "launched.pid"
    if _pid_alive(pidfile) is None:
        pidfile.unlink(missing_ok=True)  # left by a daemon that died: dockerd refuses it
        SOCKET.unlink(missing_ok=True)
        args = [
            dockerd,
            f"--data-root={STATE_DIR}",
            f"--exec-root={RUNTIME_DIR / 'exec'}",
            f"--pidfile={pidfile}",
            f"--host={HOST}",
            # No bridge and no iptables rules: containers run with --network none, and
            # nothing clashes with a system daemon's docker0.
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            # When a system containerd listens at its default socket, dockerd uses it: our
            # containers and images then live in namespaces of their own there, never in
            # those of a system daemon (moby / plugins.moby).
            f"--containerd-namespace={CONTAINERD_NAMESPACE}",
            f"--containerd-plugins-namespace={CONTAINERD_NAMESPACE}-plugins",
        ]
        # Through a shell that exits at once: dockerd is nobody's child here, so it outlives
        # the session without a Popen that still runs when this process ends.
        subprocess.run(
            [
                "/bin/sh",
                "-c",
                'log=$1; out=$2; shift 2; "$@" >>"$log" 2>&1 & echo $! >"$out"',
                "sh",
                str(log),
                str(launched),
                *args,
            ],
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            check=True,
        )
    deadline = time.monotonic() + START_DEADLINE_S
    while not _answers(HOST):
        if _pid_alive(launched) is None and _pid_alive(pidfile) is None:
            raise RuntimeError(f"dockerd exited; its log ({log}) ends with:\n{_log_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"dockerd did not answer at {HOST} within {START_DEADLINE_S:.0f} s; "
                f"its log ({log}) ends with:\n{_log_tail(log)}"
            )
        time.sleep(0.2)  # polling the daemon's answer, bounded by the deadline above


@dataclass(frozen=True)
class DockerEngine:
    """A daemon that answers: its address and the client used to reach it."""

    host: str
    cli: str

    def containers(self, *filters: str, running: bool = False) -> list[str]:
        """Names of the containers (any state, or running ones) matching every
        ``docker ps --filter`` given, e.g. ``label=ferrotrack.model_run=ID``."""
        args = (
            ["ps", "--format", "{{.Names}}"] if running else ["ps", "-a", "--format", "{{.Names}}"]
        )
        for one in filters:
            args += ["--filter", one]
        return docker(*args, host=self.host).stdout.split()

    def of_model_run(self, run_id: str, *, running: bool = False) -> list[str]:
        """The containers of a model run (the backend labels them ``ferrotrack.model_run``)."""
        return self.containers(f"label=ferrotrack.model_run={run_id}", running=running)


def unique(prefix: str) -> str:
    """A model run id no other test session uses at the same time (they share the engine,
    and containers are found by the model run's label)."""
    return f"{prefix}-{secrets.token_hex(4)}"


@functools.cache
def ensure_engine() -> DockerEngine:
    """A daemon that answers (started when needed); once per process."""
    host = os.environ.get(OVERRIDE_VARIABLE) or HOST
    if not _answers(host):
        if host != HOST:
            raise RuntimeError(f"{OVERRIDE_VARIABLE}={host}: no daemon answers there")
        with _locked("start.lock"):
            if not _answers(HOST):
                _start_private_daemon()
    return DockerEngine(host=host, cli=docker_cli())


_MPIEXEC_SHIM = """#!/bin/sh
# mpiexec SHIM for ferrotrack's tests: no MPI exists in an image built FROM scratch.
# Takes -n/-np N and --allow-run-as-root/--oversubscribe like a real mpiexec, then runs the
# command ONCE (not N ranks), telling it N in MPIEXEC_SHIM_NP.
np=1
while [ $# -gt 0 ]; do
  case "$1" in
    -n|-np) np=$2; shift 2 ;;
    --allow-run-as-root|--oversubscribe) shift ;;
    --) shift; break ;;
    -*) echo "mpiexec shim: unsupported option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "mpiexec shim: no command" >&2; exit 2; }
echo "mpiexec shim: np=$np cmd=$*"
MPIEXEC_SHIM_NP=$np exec "$@"
"""

_SCHISM = """#!/bin/sh
# Stand-in for SCHISM in ferrotrack's tests: shows its arguments and MODEL_CONFIG, and
# writes schism.out into the working folder (the model run's folder, mounted from the host).
echo "schism args: $*"
echo "MODEL_CONFIG=${MODEL_CONFIG:-}"
{
  echo "args=$*"
  echo "MODEL_CONFIG=${MODEL_CONFIG:-}"
  echo "np=${MPIEXEC_SHIM_NP:-}"
  if [ -d /data ]; then echo "data=$(ls /data | tr '\\n' ' ')"; fi
} > schism.out
"""

_MODEL = """#!/bin/sh
# Stand-in for a model built from a Dockerfile in ferrotrack's tests: shows the build's
# MODEL_VERSION and its arguments, and writes model.out into the working folder.
version=$(cat /etc/model-version)
echo "model version=$version args: $*"
{
  echo "version=$version"
  echo "args=$*"
  echo "np=${MPIEXEC_SHIM_NP:-}"
} > model.out
"""

_BUSYBOX_DOCKERFILE = """FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY mpiexec /usr/local/bin/mpiexec
ENV PATH=/usr/local/bin:/bin
CMD ["/bin/sh"]
"""

MODEL_DOCKERFILE = f"""FROM {BUSYBOX_IMAGE}
ARG MODEL_VERSION=unset
COPY model /usr/local/bin/model
RUN echo "$MODEL_VERSION" > /etc/model-version
CMD ["/usr/local/bin/model"]
"""
"""The Dockerfile of the guide's second block (and of ``rompy/model``): a build argument
``MODEL_VERSION`` baked into ``/etc/model-version``, which the model script prints."""


def _write(path: Path, text: str, *, executable: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if executable:
        path.chmod(0o755)


def write_model_dockerfile(folder: Path) -> Path:
    """Writes ``folder/Dockerfile`` and its ``model`` script (what ``./docker/Dockerfile``
    of the guide's block needs); returns the Dockerfile's path."""
    _write(folder / "model", _MODEL, executable=True)
    _write(folder / "Dockerfile", MODEL_DOCKERFILE)
    return folder / "Dockerfile"


def _build(engine: DockerEngine, tag: str, context: Path, *build_args: str) -> None:
    docker("build", "-q", "-t", tag, *build_args, str(context), host=engine.host, timeout=300)


@functools.cache
def ensure_images(engine: DockerEngine) -> tuple[str, ...]:
    """Builds the test images (once per process; the daemon's cache makes a rebuild ~1 s)."""
    if not BUSYBOX_BINARY.exists():
        raise RuntimeError(f"{BUSYBOX_BINARY} is missing; {HOW_TO_START}")
    with _locked("build.lock"), tempfile.TemporaryDirectory(prefix="ft-images-") as tmp:
        base = Path(tmp) / "busybox"
        base.mkdir()
        shutil.copy2(BUSYBOX_BINARY, base / "busybox")
        _write(base / "mpiexec", _MPIEXEC_SHIM, executable=True)
        _write(base / "Dockerfile", _BUSYBOX_DOCKERFILE)
        _build(engine, BUSYBOX_IMAGE, base)

        schism = Path(tmp) / "schism"
        _write(schism / "schism", _SCHISM, executable=True)
        _write(
            schism / "Dockerfile",
            f"FROM {BUSYBOX_IMAGE}\nCOPY schism /usr/local/bin/schism\n",
        )
        _build(engine, SCHISM_IMAGE, schism)

        model = Path(tmp) / "model"
        write_model_dockerfile(model)
        _build(engine, MODEL_IMAGE, model, "--build-arg", "MODEL_VERSION=prebuilt")
    return (BUSYBOX_IMAGE, SCHISM_IMAGE, MODEL_IMAGE)


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A Docker daemon that answers, exported as ``DOCKER_HOST`` for the session; fails
    (never skips) with how to get one when there is none."""
    try:
        engine = ensure_engine()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"no Docker engine: {exc}", pytrace=False)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in engine_env(engine.host).items():
            patch.setenv(name, value)
        yield engine


@pytest.fixture(scope="session")
def docker_images(docker_engine: DockerEngine) -> tuple[str, ...]:
    """The test images, built in the session's daemon."""
    try:
        return ensure_images(docker_engine)
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"building the Docker test images failed: {exc}", pytrace=False)
