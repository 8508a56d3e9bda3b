"""cgroup limits read from trees written in tmp (v2, v1, a container's own view, no
limits) and from this machine's real /sys/fs/cgroup; container detection."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.collectors.container import (
    CgroupLimits,
    ContainerCollector,
    container_runtime,
    cpu_list_count,
    read_cgroup_limits,
)
from ferrotrack.core.plugins import MetricType


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def mountinfo(*lines: str) -> str:
    return "\n".join(lines) + "\n"


V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"


def test_cgroup_v2_takes_the_smallest_limit_on_the_path(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": "0::/user.slice/job.scope\n",
            "proc/self/mountinfo": mountinfo(V2_MOUNT),
            "sys/fs/cgroup/cgroup.controllers": "cpuset cpu io memory pids\n",
            "sys/fs/cgroup/user.slice/cpu.max": "200000 100000\n",
            "sys/fs/cgroup/user.slice/memory.max": "8589934592\n",
            "sys/fs/cgroup/user.slice/job.scope/cpu.max": "150000 100000\n",
            "sys/fs/cgroup/user.slice/job.scope/memory.max": "max\n",
            "sys/fs/cgroup/user.slice/job.scope/cpuset.cpus.effective": "0-3,8\n",
        },
    )
    assert read_cgroup_limits(root) == CgroupLimits(
        version=2,
        path="/user.slice/job.scope",
        cpu_limit=1.5,
        memory_limit_bytes=8589934592,
        cpuset_cpus=5,
    )


def test_cgroup_v2_without_limits_and_without_mountinfo(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": "0::/\n",
            "sys/fs/cgroup/cgroup.controllers": "cpu memory\n",
            "sys/fs/cgroup/cpu.max": "max 100000\n",
        },
    )
    assert read_cgroup_limits(root) == CgroupLimits(2, "/", None, None, None)


def test_cgroup_v1_inside_a_container_sees_its_own_cgroup_as_the_mount(tmp_path: Path) -> None:
    # the path names the host's cgroup; the container's mount shows only its own folder
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": (
                "5:memory:/docker/abc123\n4:cpu,cpuacct:/docker/abc123\n3:cpuset:/docker/abc123\n"
            ),
            "proc/self/mountinfo": mountinfo(
                "40 31 0:30 /docker/abc123 /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory",
                "41 31 0:31 /docker/abc123 /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup "
                "rw,cpu,cpuacct",
                "42 31 0:32 /docker/abc123 /sys/fs/cgroup/cpuset ro - cgroup cgroup rw,cpuset",
            ),
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "50000\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/cpuset/cpuset.cpus": "0-1\n",
            ".dockerenv": "",
        },
    )
    assert read_cgroup_limits(root) == CgroupLimits(1, "/docker/abc123", 0.5, 536870912, 2)
    assert container_runtime(root, environ={}) == "docker"


def test_cgroup_v1_unlimited_and_garbage(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": "4:memory:/\n2:cpu:/\n",
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "not a number\n",
        },
    )
    assert read_cgroup_limits(root) == CgroupLimits(1, "/", None, None, None)


def test_no_cgroups_at_all(tmp_path: Path) -> None:
    assert read_cgroup_limits(tmp_path) == CgroupLimits(None, None, None, None, None)
    assert container_runtime(tmp_path, environ={}) is None


def test_container_runtimes(tmp_path: Path) -> None:
    assert container_runtime(tmp_path, environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1"}) == (
        "kubernetes"
    )
    assert container_runtime(tmp_path, environ={"container": "podman"}) == "podman"
    write(tmp_path, {"proc/1/cgroup": "0::/kubepods/burstable/pod1/abc\n"})
    assert container_runtime(tmp_path, environ={}) == "kubernetes"
    write(tmp_path, {"run/.containerenv": ""})
    assert container_runtime(tmp_path, environ={}) == "podman"


def test_this_machine(tmp_path: Path) -> None:
    """The real /sys/fs/cgroup: whatever version it is, the limits are consistent with it."""
    limits = read_cgroup_limits("/")
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        assert limits.version == 2
    elif Path("/sys/fs/cgroup/memory").is_dir() or Path("/sys/fs/cgroup/cpu").is_dir():
        assert limits.version == 1
    assert limits.cpu_limit is None or limits.cpu_limit > 0
    assert limits.memory_limit_bytes is None or limits.memory_limit_bytes > 0
    if limits.cpuset_cpus is not None and hasattr(os, "sched_getaffinity"):
        assert len(os.sched_getaffinity(0)) <= limits.cpuset_cpus
    c = ContainerCollector()
    c.initialize({})
    params = {m.name: m.value for m in c.collect()}
    assert all(m.type is MetricType.PARAMETER for m in c.collect())
    assert params["container.cgroup_version"] == limits.version
    assert params["container.in_container"] == (container_runtime("/") is not None)
    assert params["container.in_container"] is Path("/.dockerenv").exists() or (
        params["container.runtime"] not in {None, "docker"}
    )


@given(st.sets(st.integers(min_value=0, max_value=512)))
def test_cpu_list_count_counts_the_cpus_of_a_kernel_cpu_list(cpus: set[int]) -> None:
    ranges: list[str] = []
    for cpu in sorted(cpus):  # the kernel's own spelling: runs as a-b, single CPUs alone
        if ranges and "-" in ranges[-1] and int(ranges[-1].split("-")[1]) == cpu - 1:
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{cpu}"
        elif ranges and "-" not in ranges[-1] and int(ranges[-1]) == cpu - 1:
            ranges[-1] = f"{ranges[-1]}-{cpu}"
        else:
            ranges.append(str(cpu))
    assert cpu_list_count(",".join(ranges) + "\n") == len(cpus)


def test_a_mount_point_with_a_space_is_found(tmp_path: Path) -> None:
    """mountinfo writes a space in a path as \\040: the folder is still found."""
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": "0::/job\n",
            "proc/self/mountinfo": mountinfo(
                "30 23 0:26 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw"
            ),
            "sys/fs/my cgroup/cgroup.controllers": "cpu memory\n",
            "sys/fs/my cgroup/job/memory.max": "1073741824\n",
        },
    )
    assert read_cgroup_limits(root) == CgroupLimits(2, "/job", None, 1073741824, None)
