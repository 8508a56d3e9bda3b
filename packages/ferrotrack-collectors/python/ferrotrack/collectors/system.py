"""The ``system`` collector: CPU, memory, swap, disk and network rates, and the run's own
process tree, sampled with psutil every ``interval`` seconds on the collector's thread.

Names are ``sys/…`` (``docs/collectors.md`` lists each with its unit); I/O counters are
turned into rates from the difference between two samples, so the first sample has none.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import CollectorConfig, facts, metadata
from ferrotrack.core.plugins import CollectorPlugin, MetricData, MetricType, PluginMetadata
from ferrotrack.core.plugins.imports import require

__all__ = ["SystemCollector", "SystemConfig", "cpu_percent"]

_SYSTEM = MetricType.SYSTEM


class SystemConfig(CollectorConfig):
    """How the ``system`` collector samples."""

    interval: float = Field(default=10.0, gt=0, description="Seconds between samples.")
    per_core: bool = Field(
        default=True, description="Also record sys/cpu/<i>/percent for each core."
    )
    process_tree: bool = Field(
        default=True, description="Record sys/proc/*: this process and its children, recursively."
    )


def cpu_percent(before: Any, after: Any) -> float | None:
    """Busy share of CPU time between two ``cpu_times()`` readings, in percent (0–100), or
    ``None`` when there is no earlier reading or no time passed. Busy is everything but
    idle and I/O wait, as in psutil."""
    if before is None:
        return None
    total = sum(after) - sum(before)
    if total <= 0:
        return None
    idle = (after.idle - before.idle) + (
        getattr(after, "iowait", 0.0) - getattr(before, "iowait", 0.0)
    )
    share: float = 100.0 * (total - idle) / total
    return min(100.0, max(0.0, share))


class _Rate:
    """Bytes per second from a growing counter, between two readings."""

    __slots__ = ("last", "name", "when")

    def __init__(self, name: str) -> None:
        self.name = name
        self.last: int | None = None
        self.when = 0.0

    def update(self, value: int, now: float) -> float | None:
        last, when = self.last, self.when
        self.last, self.when = value, now
        if last is None or now <= when or value < last:  # first reading, or a counter reset
            return None
        return (value - last) / (now - when)


class SystemCollector(CollectorPlugin):
    """Samples the machine and the run's process tree (see the module docstring)."""

    interval: float | None = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._psutil: Any = None
        self._self: Any = None
        self._tree: dict[int, Any] = {}
        self._core_names: list[str] = []
        self._rates = [
            _Rate("sys/disk/read_bytes_per_s"),
            _Rate("sys/disk/write_bytes_per_s"),
            _Rate("sys/net/sent_bytes_per_s"),
            _Rate("sys/net/recv_bytes_per_s"),
        ]
        self._first = True
        self._cpu_last: Any = None
        self._cores_last: list[Any] = []

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``system``."""
        return metadata(
            "system",
            "CPU, memory, swap, disk and network rates, and the run's process tree (psutil).",
            SystemConfig,
            dependencies=["psutil"],
        )

    def initialize(self, config: Any = None) -> None:
        """Imports psutil (a clear error naming it when it is missing) and primes counters."""
        super().initialize(config)
        psutil = require("psutil", "the system collector", install="pip install psutil")
        self._psutil = psutil
        self._self = psutil.Process(os.getpid())
        self._core_names = [f"sys/cpu/{i}/percent" for i in range(psutil.cpu_count() or 0)]
        # CPU percent from our own readings (psutil.cpu_percent(None) keeps one baseline per
        # process, which any other caller would move under us); the first sample only takes
        # the baselines of CPU, I/O rates and process CPU.
        self._cpu_last = None
        self._cores_last = []
        self._tree = {self._self.pid: self._self}
        self._first = True

    def start(self) -> None:
        """Records the machine's static facts and a first sample (at once, so that a run
        shorter than ``interval`` has one), then samples on the collector's thread."""
        self.sample()
        super().start()

    def static_facts(self) -> dict[str, Any]:
        """CPU counts and memory totals: recorded once, as params under ``sys.``."""
        psutil = self._psutil
        return {
            "cpu_count": psutil.cpu_count(),
            "cpu_count_physical": psutil.cpu_count(logical=False),
            "mem_total_bytes": int(psutil.virtual_memory().total),
            "swap_total_bytes": int(psutil.swap_memory().total),
        }

    def collect(self) -> list[MetricData]:
        """One sample (the first also carries the static facts as params)."""
        psutil = self._psutil
        stamp = time.time_ns()
        now = time.monotonic()
        out: list[MetricData] = []
        first = self._first
        if first:
            self._first = False
            out.extend(facts("sys", self.static_facts(), "system"))

        def point(name: str, value: float, unit: str) -> None:
            out.append(MetricData(name, value, _SYSTEM, None, stamp, "system", {"unit": unit}))

        cpu = psutil.cpu_times()
        busy = cpu_percent(self._cpu_last, cpu)
        self._cpu_last = cpu
        if busy is not None:
            point("sys/cpu/percent", busy, "%")
        if self.config.per_core:
            cores = psutil.cpu_times(percpu=True)
            lasts = self._cores_last or [None] * len(cores)
            for name, last, now_ in zip(self._core_names, lasts, cores, strict=False):
                busy = cpu_percent(last, now_)
                if busy is not None:
                    point(name, busy, "%")
            self._cores_last = cores
        mem = psutil.virtual_memory()
        point("sys/mem/used_bytes", mem.used, "bytes")
        point("sys/mem/available_bytes", mem.available, "bytes")
        point("sys/mem/percent", mem.percent, "%")
        swap = psutil.swap_memory()
        point("sys/swap/used_bytes", swap.used, "bytes")
        point("sys/swap/percent", swap.percent, "%")
        disk = psutil.disk_io_counters()
        net = psutil.net_io_counters()
        readings = (
            disk.read_bytes if disk else None,
            disk.write_bytes if disk else None,
            net.bytes_sent if net else None,
            net.bytes_recv if net else None,
        )
        for rate, reading in zip(self._rates, readings, strict=True):
            if reading is not None:
                value = rate.update(reading, now)
                if value is not None:
                    point(rate.name, value, "bytes/s")
        if self.config.process_tree:
            self._sample_tree(point, baseline=first)
        return out

    def _sample_tree(self, point: Any, *, baseline: bool) -> None:
        """RSS, CPU, threads and open files summed over this process and its descendants.

        psutil.Process objects are kept from one sample to the next (CPU percent needs the
        previous reading of the same object); a child that ended is dropped silently, one
        that cannot be read (AccessDenied) is left out and reported once.
        """
        psutil = self._psutil
        me = self._self
        current = {me.pid: me}
        try:
            children = me.children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            known = self._tree.get(child.pid)
            # same pid and creation time: the object kept (a new one's first CPU percent is
            # 0.0, its baseline)
            current[child.pid] = known if known is not None and known == child else child
        self._tree = current
        rss = cpu = 0.0
        threads = files = processes = 0
        for pid, proc in list(current.items()):
            try:
                with proc.oneshot():  # all four read before any is counted
                    p_rss = proc.memory_info().rss
                    p_cpu = proc.cpu_percent(None)
                    p_threads = proc.num_threads()
                    p_files = proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()
                rss += p_rss
                cpu += p_cpu
                threads += p_threads
                files += p_files
                processes += 1
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                current.pop(pid, None)  # ended between listing and reading: not a problem
            except psutil.AccessDenied as exc:
                self.errors += 1
                self.report_problem(
                    "access-denied",
                    f"cannot read process {pid} of the run's tree ({exc}); "
                    "it is left out of sys/proc/*",
                )
        point("sys/proc/count", processes, "processes")
        point("sys/proc/rss_bytes", rss, "bytes")
        if not baseline:
            point("sys/proc/cpu_percent", cpu, "%")
        point("sys/proc/threads", threads, "threads")
        point("sys/proc/open_files", files, "files")
