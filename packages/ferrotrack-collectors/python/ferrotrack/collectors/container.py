"""The ``container`` collector: whether the run is in a container (and which kind), and the
CPU and memory limits of its cgroup (v2 or v1), once, at start.

Everything is read from files under a root folder (``/`` by default), so the parser runs
on any tree: ``read_cgroup_limits(Path("/"))`` on this machine, a folder written by a test
elsewhere. The limit that applies is the smallest along the cgroup's path up to its mount.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import CollectorConfig, facts, metadata
from ferrotrack.core.plugins import CollectorPlugin, MetricData, PluginMetadata

__all__ = [
    "CgroupLimits",
    "ContainerCollector",
    "ContainerConfig",
    "container_runtime",
    "cpu_list_count",
    "read_cgroup_limits",
]

_OCTAL = re.compile(r"\\([0-7]{3})")

_UNLIMITED = 1 << 60
"""cgroup v1 writes 'no limit' as a huge page-aligned number (9223372036854771712)."""

_MARKERS = (("kubepods", "kubernetes"), ("libpod", "podman"), ("docker", "docker"),
            ("containerd", "containerd"), ("lxc", "lxc"))  # fmt: skip


class ContainerConfig(CollectorConfig):
    """Where the filesystem to read is."""

    root: str = Field(default="/", description="The filesystem root to read /proc and /sys under.")


@dataclass(frozen=True)
class CgroupLimits:
    """The run's cgroup and the limits it sets (``None``: no limit, or not found)."""

    version: int | None
    path: str | None
    cpu_limit: float | None
    """CPUs' worth of time per period (quota / period), e.g. 1.5."""
    memory_limit_bytes: int | None
    cpuset_cpus: int | None
    """How many CPUs the cgroup's cpuset allows."""


@dataclass(frozen=True)
class _Mount:
    root: str
    point: Path
    fstype: str
    options: frozenset[str]


def cpu_list_count(text: str) -> int:
    """How many CPUs a kernel CPU list names: ``"0-3,8"`` is 5.

    >>> cpu_list_count("0-3,8")
    5
    """
    count = 0
    for part in text.strip().split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        count += (int(high) - int(low) + 1) if high else 1
    return count


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _own_cgroups(root: Path) -> dict[str, str]:
    """Controller (``""`` for v2) to the cgroup path, from ``/proc/self/cgroup``."""
    out: dict[str, str] = {}
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = path
    return out


def _mounts(root: Path) -> list[_Mount] | None:
    """cgroup mounts from ``/proc/self/mountinfo`` (``None`` when it cannot be read)."""
    text = _read(root / "proc/self/mountinfo")
    if text is None:
        return None
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3 or not tail[0].startswith("cgroup"):
            continue
        point = root / _unescape(fields[4]).lstrip("/")
        options = frozenset(tail[2].split(","))
        mounts.append(_Mount(_unescape(fields[3]), point, tail[0], options))
    return mounts


def _unescape(field: str) -> str:
    r"""A mountinfo path as it is: the kernel writes space, tab, newline and backslash as
    octal escapes (``/sys/fs/cgroup/my\040slice``)."""
    return _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), field) if "\\" in field else field


def _dirs(mount: _Mount, path: str) -> list[Path]:
    """The cgroup's folder under ``mount`` and its ancestors up to the mount point. A path
    outside the mount's root (a container that sees only its own cgroup) is the mount."""
    inside = mount.root in {"/", path} or path.startswith(mount.root + "/")
    relative = os.path.relpath(path, mount.root) if inside else "."
    start = mount.point / relative if relative != "." else mount.point
    if not start.is_dir():
        start = mount.point
    chain = [start]
    while chain[-1] != mount.point and mount.point in chain[-1].parents:
        chain.append(chain[-1].parent)
    return chain


def _smallest(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _int(text: str | None) -> int | None:
    """A number from a cgroup file, or ``None`` (absent, ``max``, or not a number)."""
    try:
        return None if text is None else int(text)
    except ValueError:
        return None


def _ratio(quota: int | None, period: int | None) -> float | None:
    return None if quota is None or period is None or quota <= 0 or period <= 0 else quota / period


def _v2_cpu(folder: Path) -> float | None:
    quota, _, period = (_read(folder / "cpu.max") or "").partition(" ")
    return _ratio(_int(quota), _int(period))


def _v2_memory(folder: Path) -> float | None:
    return _int(_read(folder / "memory.max"))


def _v1_cpu(folder: Path) -> float | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    return _ratio(_int(quota), _int(period))


def _v1_memory(folder: Path) -> float | None:
    limit = _int(_read(folder / "memory.limit_in_bytes"))
    return None if limit is None or limit >= _UNLIMITED else limit


def _cpuset(folders: list[Path], names: tuple[str, ...]) -> int | None:
    for folder in folders:
        for name in names:
            text = _read(folder / name)
            if text:
                try:
                    return cpu_list_count(text)
                except ValueError:
                    return None
    return None


def _default_mounts(root: Path) -> list[_Mount]:
    """The usual layout when mountinfo cannot be read: v2 at /sys/fs/cgroup, or v1 with one
    folder per controller under it."""
    base = root / "sys/fs/cgroup"
    if (base / "cgroup.controllers").exists():
        return [_Mount("/", base, "cgroup2", frozenset())]
    mounts = []
    for name in ("cpu", "cpu,cpuacct", "cpuacct,cpu", "memory", "cpuset"):
        if (base / name).is_dir():
            mounts.append(_Mount("/", base / name, "cgroup", frozenset(name.split(","))))
    return mounts


def read_cgroup_limits(root: Path | str = "/") -> CgroupLimits:
    """The limits of this process's cgroup, read under ``root`` (v2 preferred, else v1)."""
    root = Path(root)
    own = _own_cgroups(root)
    mounts = _mounts(root)
    if mounts is None:
        mounts = _default_mounts(root)
    v2 = next((m for m in mounts if m.fstype == "cgroup2"), None)
    if v2 is not None and "" in own:
        folders = _dirs(v2, own[""])
        enabled = set((_read(v2.point / "cgroup.controllers") or "").split())
        if enabled & {"cpu", "memory"} or not any(m.fstype == "cgroup" for m in mounts):
            return CgroupLimits(
                version=2,
                path=own[""],
                cpu_limit=_smallest([_v2_cpu(f) for f in folders]),
                memory_limit_bytes=_as_int(_smallest([_v2_memory(f) for f in folders])),
                cpuset_cpus=_cpuset(folders, ("cpuset.cpus.effective", "cpuset.cpus")),
            )

    def v1(controller: str) -> tuple[list[Path], str | None]:
        mount = next((m for m in mounts if m.fstype == "cgroup" and controller in m.options), None)
        if mount is None:
            return [], None
        path = own.get(controller, "/")
        return _dirs(mount, path), path

    cpu_dirs, cpu_path = v1("cpu")
    mem_dirs, mem_path = v1("memory")
    set_dirs, _ = v1("cpuset")
    if not cpu_dirs and not mem_dirs:
        return CgroupLimits(None, None, None, None, None)
    return CgroupLimits(
        version=1,
        path=mem_path or cpu_path,
        cpu_limit=_smallest([_v1_cpu(f) for f in cpu_dirs]),
        memory_limit_bytes=_as_int(_smallest([_v1_memory(f) for f in mem_dirs])),
        cpuset_cpus=_cpuset(set_dirs, ("cpuset.effective_cpus", "cpuset.cpus")),
    )


def _as_int(value: float | None) -> int | None:
    return None if value is None else int(value)


def container_runtime(
    root: Path | str = "/", environ: Mapping[str, str] | None = None
) -> str | None:
    """The container runtime the process runs under (``docker``, ``podman``,
    ``kubernetes``…), or ``None`` when nothing says it is in a container."""
    root = Path(root)
    environ = os.environ if environ is None else environ
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if (root / ".dockerenv").exists():
        return "docker"
    if (root / "run/.containerenv").exists():
        return "podman"
    if environ.get("container"):  # systemd's convention (podman, lxc, systemd-nspawn)
        return environ["container"]
    for where in ("proc/1/cgroup", "proc/self/cgroup"):
        text = _read(root / where) or ""
        for marker, runtime in _MARKERS:
            if marker in text:
                return runtime
    return None


class ContainerCollector(CollectorPlugin):
    """Records container and cgroup facts once, at start (see the module docstring)."""

    interval: float | None = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``container``."""
        return metadata(
            "container", "In-container detection, cgroup CPU and memory limits.", ContainerConfig
        )

    @property
    def sampling_interval(self) -> float | None:
        """Always ``None``: the facts are taken once."""
        return None

    def facts(self) -> dict[str, Any]:
        """The params recorded under ``container.``."""
        config: ContainerConfig = self.config or ContainerConfig()
        runtime = container_runtime(config.root)
        limits = asdict(read_cgroup_limits(config.root))
        affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
        return {
            "in_container": runtime is not None,
            "runtime": runtime,
            "cgroup_version": limits.pop("version"),
            "cgroup_path": limits.pop("path"),
            **limits,
            "cpu_affinity": None if affinity is None else len(affinity),
        }

    def collect(self) -> list[MetricData]:
        """Params ``container.*``."""
        return facts("container", self.facts(), "container")
