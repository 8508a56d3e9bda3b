"""A real single-node Slurm cluster for the slurm backend's tests (and bench/run_slurm.py).

When a controller already answers ``scontrol ping`` (``SLURM_CONF`` or ``/etc/slurm``), that
cluster is used as it is. Otherwise one is started from Debian's ``slurm-wlm`` and ``munge``
in a fresh folder under ``/tmp``: its own munge key and socket (``munged``), a generated
``slurm.conf`` (``SLURM_CONF`` points at it), ``slurmctld`` and ``slurmd`` on free ports of
127.0.0.1 only (``CommunicationParameters=NoInAddrAny,NoCtldInAddrAny`` binds each daemon to
the address its host name resolves to: when that is not a loopback address, the daemons run
in a UTS namespace of their own named ``localhost``). No accounting (``sacct`` does not work);
``MinJobAge=600`` keeps finished jobs in ``scontrol show job`` long enough to be polled.
Partitions ``debug`` (the default) and ``batch``, one node with this machine's CPUs.

The pytest fixture :func:`slurm_cluster` starts it once per session, leaves it up for the
session, and FAILS (never skips) when it cannot, naming ``scripts/system/slurm.sh``.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ferrotrack.core.testing import stop_process

__all__ = [
    "INSTALL_HINT",
    "SlurmCluster",
    "SlurmClusterError",
    "ensure_cluster",
    "existing_cluster",
    "slurm_cluster",
    "start_cluster",
]

INSTALL_HINT = (
    "run `bash scripts/system/slurm.sh` as root (it installs Debian's slurm-wlm and munge; "
    "the tests then start their own single-node cluster)"
)
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "scontrol", "squeue", "scancel", "sinfo")
PARTITIONS = ("debug", "batch")


class SlurmClusterError(RuntimeError):
    """No cluster answers and none could be started; the message says why and what to run."""


@dataclass
class SlurmCluster:
    """A cluster the tests submit to: ``conf`` is its slurm.conf (``None``: the default one)."""

    conf: Path | None
    node: str
    folder: Path | None = None
    started: bool = False
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """What a client command needs in its environment to reach this cluster."""
        return {} if self.conf is None else {"SLURM_CONF": str(self.conf)}

    def client_env(self) -> dict[str, str]:
        """``os.environ`` with :attr:`env` on top."""
        return {**os.environ, **self.env}

    def command(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """A client command (``squeue ...``) run against this cluster."""
        return subprocess.run(
            list(argv),
            env=self.client_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def queued(self, job_id: str | None = None) -> list[str]:
        """Ids (``123`` or ``123_4``) of the jobs squeue lists, all or those of ``job_id``."""
        argv = ["squeue", "-h", "-r", "-o", "%i"]
        if job_id is not None:
            argv += ["-j", job_id]
        out = self.command(*argv)
        if out.returncode != 0:
            if job_id is not None and "Invalid job id" in out.stderr:
                return []
            raise SlurmClusterError(f"squeue failed: {out.stderr.strip()}")
        return out.stdout.split()

    def wait_queue_empty(self, job_id: str | None = None, timeout: float = 30.0) -> bool:
        """Polls squeue until it lists nothing (of ``job_id``); ``False`` at the deadline."""
        deadline = time.monotonic() + timeout
        while self.queued(job_id):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def dead_conf(self, folder: Path) -> Path:
        """A copy of this cluster's slurm.conf naming a port nothing listens on: a
        controller that cannot be reached (munge and everything else as they are)."""
        source = self.conf or Path("/etc/slurm/slurm.conf")
        lines = [
            line
            for line in source.read_text().splitlines()
            if not line.startswith(("SlurmctldPort=", "Include"))
        ]
        dead = folder / "slurm.conf"
        dead.write_text("\n".join([*lines, f"SlurmctldPort={_free_port()}"]) + "\n")
        return dead

    def logs(self, lines: int = 30) -> str:
        """The tail of each daemon's log (for failure messages)."""
        if self.folder is None:
            return "(a cluster this module did not start: no logs here)"
        parts = []
        for name in DAEMONS:
            path = self.folder / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else "(no log)"
            parts.append(f"--- {path}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancels every job, stops the daemons this module started and removes its folder."""
        if not self.started:
            return
        self.started = False
        with contextlib.suppress(Exception):
            if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
                self.command("scancel", "--full", *self.queued())
                self.wait_queue_empty(timeout=15.0)
        for name in reversed(DAEMONS):
            proc = self.processes.get(name)
            if proc is not None:
                stop_process(proc)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _ping(env: Mapping[str, str]) -> bool:
    """Whether a controller answers ``scontrol ping`` with ``env``."""
    try:
        out = subprocess.run(
            ["scontrol", "ping"],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "is UP" in out.stdout


def existing_cluster() -> SlurmCluster | None:
    """The cluster that answers with this environment's configuration, if one does and it
    has a node up; it is used as it is and never stopped by this module."""
    if shutil.which("scontrol") is None or not _ping(os.environ):
        return None
    conf = os.environ.get("SLURM_CONF")
    cluster = SlurmCluster(conf=Path(conf) if conf else None, node="")
    out = cluster.command("sinfo", "-h", "-N", "-o", "%N %t")
    for line in out.stdout.splitlines():
        name, _, state = line.partition(" ")
        if state.strip() in {"idle", "mix", "alloc"}:  # "idle*" would be a node not responding
            cluster.node = name
            return cluster
    return None


def _missing_tools() -> list[str]:
    tools = [*DAEMONS, *CLIENTS, "mungekey"]
    dirs = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [tool for tool in tools if shutil.which(tool, path=dirs) is None]


def _tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    assert found is not None, name
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _resolves_to_loopback(host: str) -> bool:
    try:
        addr = socket.gethostbyname(host)
    except OSError:
        return False
    return ipaddress.ip_address(addr).is_loopback


def _can_unshare_uts() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    out = subprocess.run(
        [unshare, "--uts", "sh", "-c", "hostname localhost"],
        capture_output=True,
        check=False,
    )
    return out.returncode == 0


def _node_hardware() -> str:
    """``CPUs=... RealMemory=...`` for this machine: what ``slurmd -C`` reports (a node
    configured above what it has would be drained), memory kept 10% under it."""
    out = subprocess.run([_tool("slurmd"), "-C"], capture_output=True, text=True, check=False)
    first = out.stdout.splitlines()[0] if out.returncode == 0 and out.stdout else ""
    fields = dict(re.findall(r"(\w+)=(\S+)", first))
    cpus = fields.get("CPUs") or str(os.cpu_count() or 1)
    try:
        memory = int(int(fields["RealMemory"]) * 0.9)
    except (KeyError, ValueError):
        memory = 1000
    return f"CPUs={cpus} RealMemory={max(memory, 100)}"


def _write_conf(folder: Path, node: str, ctld_port: int, slurmd_port: int) -> Path:
    conf = folder / "slurm.conf"
    lines = [
        "# A private single-node cluster of ferrotrack's tests (tests/slurm_cluster.py).",
        f"ClusterName=ferrotrack{ctld_port}",
        f"SlurmctldHost={node}(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={folder / 'munge.socket'}",
        f"StateSaveLocation={folder / 'state'}",
        f"SlurmdSpoolDir={folder / 'spool'}",
        f"SlurmctldPidFile={folder / 'slurmctld.pid'}",
        f"SlurmdPidFile={folder / 'slurmd.pid'}",
        f"SlurmctldLogFile={folder / 'slurmctld.log'}",
        f"SlurmdLogFile={folder / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "SchedulerType=sched/backfill",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "JobCompType=jobcomp/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "MinJobAge=600",
        "KillWait=5",
        "InactiveLimit=0",
        "MaxArraySize=10001",
        "SchedulerParameters=batch_sched_delay=0",
        f"NodeName={node} NodeAddr=127.0.0.1 {_node_hardware()} State=UNKNOWN",
        f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
        f"PartitionName=batch Nodes={node} MaxTime=INFINITE State=UP",
    ]
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start_cluster(timeout: float = 60.0) -> SlurmCluster:
    """Starts munged, slurmctld and slurmd in a fresh folder and waits (polling, with a
    deadline) until the node is idle. Raises :class:`SlurmClusterError` saying why not."""
    missing = _missing_tools()
    if missing:
        raise SlurmClusterError(
            f"Slurm is not installed here (missing: {', '.join(missing)}): {INSTALL_HINT}"
        )
    if os.geteuid() != 0:
        raise SlurmClusterError(
            "no Slurm controller answers `scontrol ping` and starting one needs root "
            "(slurmd runs jobs as their user): run the tests as root, or start a cluster and "
            f"point SLURM_CONF at it. {INSTALL_HINT}"
        )
    host = socket.gethostname().split(".")[0]
    prefix: list[str] = []
    if not _resolves_to_loopback(host):
        if not _can_unshare_uts():
            raise SlurmClusterError(
                f"this host's name {host!r} does not resolve to a loopback address and no UTS "
                "namespace can be made (unshare --uts), so slurmctld could not be bound to "
                "127.0.0.1 only: add the name to /etc/hosts as 127.0.1.1, or start a cluster "
                "and point SLURM_CONF at it"
            )
        host = "localhost"
        prefix = [_tool("unshare"), "--uts", "sh", "-c", 'hostname localhost && exec "$@"', "sh"]
    folder = Path(tempfile.mkdtemp(prefix="ferrotrack-slurm-", dir="/tmp"))
    folder.chmod(0o755)  # munged refuses a socket in a folder others cannot traverse
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    conf = _write_conf(folder, host, _free_port(), _free_port())
    cluster = SlurmCluster(conf=conf, node=host, folder=folder, started=True)
    atexit.register(cluster.stop)
    try:
        _start_daemons(cluster, prefix, timeout)
    except BaseException:
        logs = cluster.logs()
        cluster.stop()
        raise SlurmClusterError(
            f"the single-node Slurm cluster did not come up within {timeout:.0f} s; "
            f"daemon logs:\n{logs}\n{INSTALL_HINT}"
        ) from None
    return cluster


def _start_daemons(cluster: SlurmCluster, prefix: list[str], timeout: float) -> None:
    folder = cluster.folder
    assert folder is not None
    key = folder / "munge.key"
    subprocess.run(
        [_tool("mungekey"), "--create", f"--keyfile={key}", "--force"],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    env = cluster.client_env()
    argv = {
        "munged": [
            _tool("munged"),
            "--foreground",
            f"--socket={folder / 'munge.socket'}",
            f"--key-file={key}",
            f"--pid-file={folder / 'munged.pid'}",
            f"--log-file={folder / 'munged.log'}",
            f"--seed-file={folder / 'munged.seed'}",
        ],
        "slurmctld": [*prefix, _tool("slurmctld"), "-D", "-f", str(cluster.conf)],
        "slurmd": [*prefix, _tool("slurmd"), "-D", "-f", str(cluster.conf)],
    }
    deadline = time.monotonic() + timeout
    for name in DAEMONS:
        with open(folder / f"{name}.out", "ab") as out:
            cluster.processes[name] = subprocess.Popen(
                argv[name],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the tests must not reach the daemons
            )
        if name == "munged":
            _wait_for((folder / "munge.socket").exists, cluster, deadline, name)
        elif name == "slurmctld":
            _wait_for(lambda: _ping(env), cluster, deadline, name)
    _wait_for(lambda: _node_state(cluster) == "idle", cluster, deadline, "the node to be idle")


def _node_state(cluster: SlurmCluster) -> str:
    """The node's state (``sinfo -N`` lists it once per partition)."""
    out = cluster.command("sinfo", "-h", "-N", "-n", cluster.node, "-o", "%t")
    states = set(out.stdout.split())
    return states.pop() if len(states) == 1 else " ".join(sorted(states))


def _wait_for(ready: Callable[[], bool], cluster: SlurmCluster, deadline: float, what: str) -> None:
    while not ready():
        for name, proc in cluster.processes.items():
            if proc.poll() is not None:
                raise SlurmClusterError(f"{name} exited with status {proc.returncode}")
        if time.monotonic() > deadline:
            raise SlurmClusterError(f"timed out waiting for {what}")
        time.sleep(0.05)


def ensure_cluster(timeout: float = 60.0) -> SlurmCluster:
    """The cluster that answers already, or a new one (:func:`start_cluster`)."""
    return existing_cluster() or start_cluster(timeout)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A cluster up for the whole session; ``SLURM_CONF`` points at it meanwhile.

    Fails (does not skip) when none answers and none can be started."""
    problem = ""
    try:
        cluster = ensure_cluster()
    except SlurmClusterError as exc:
        problem = str(exc)
    if problem:  # outside the except: the message alone, without a chained traceback
        pytest.fail(f"no Slurm cluster for the slurm backend's tests: {problem}", pytrace=False)
    saved = os.environ.get("SLURM_CONF")
    os.environ.update(cluster.env)
    try:
        yield cluster
    finally:
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        cluster.stop()
