"""The ``system`` collector: CPU, memory, swap, disk and network rates, and the run's own
process tree, sampled with psutil every ``interval`` seconds on the collector's thread.

Names are ``sys/…`` (``docs/collectors.md`` lists each with its unit). Percentages and
rates come from the difference between two readings, so the first sample (taken at start)
has none; a last sample is taken when the run stops, so that a run shorter than
``interval``, and the tail of every run, have them too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import CollectorConfig, facts, metadata
from ferrotrack.core.plugins import CollectorPlugin, MetricData, MetricType, PluginMetadata
from ferrotrack.core.plugins.imports import require

__all__ = ["SystemCollector", "SystemConfig", "cpu_percent"]

_SYSTEM = MetricType.SYSTEM

# One metadata dict per unit, shared by every point of that unit (a sample makes no dict of
# its own); readers copy it (dispatch_metrics), nobody writes to it.
_UNITS: dict[str, dict[str, Any]] = {
    unit: {"unit": unit} for unit in ("%", "bytes", "bytes/s", "processes", "threads", "files")
}

_FINAL_GAP = 0.1
"""The stop's last sample is skipped when the previous one is younger than this (seconds):
the tail is recorded already, and CPU times tick in 10 ms steps."""


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
    ``None`` when there is no earlier reading or no time passed.

    Busy is everything but idle and I/O wait, as in psutil. Linux counts a VM's time twice
    (``guest`` is inside ``user``, ``guest_nice`` inside ``nice``), so those two are left
    out of the total: a host running VMs would otherwise look busier than it is.
    """
    if before is None:
        return None
    total = sum(after) - sum(before)
    total -= getattr(after, "guest", 0.0) - getattr(before, "guest", 0.0)
    total -= getattr(after, "guest_nice", 0.0) - getattr(before, "guest_nice", 0.0)
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


Point = Callable[[str, float, str], None]


class SystemCollector(CollectorPlugin):
    """Samples the machine and the run's process tree (see the module docstring)."""

    interval: float | None = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._psutil: Any = None
        self._self: Any = None
        self._tree: dict[int, Any] = {}
        self._proc_cpu: dict[int, float | None] = {}
        self._core_names: list[str] = []
        self._rates = [
            _Rate("sys/disk/read_bytes_per_s"),
            _Rate("sys/disk/write_bytes_per_s"),
            _Rate("sys/net/sent_bytes_per_s"),
            _Rate("sys/net/recv_bytes_per_s"),
        ]
        self._first = True
        self._when: float | None = None
        self._cpu_last: Any = None
        self._cores_last: list[Any] = []
        self._parts: tuple[tuple[str, Callable[[Point, float], None]], ...] = (
            ("cpu", self._cpu),
            ("mem", self._mem),
            ("swap", self._swap),
            ("disk", self._disk),
            ("net", self._net),
        )

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
        self._proc_cpu = {}
        self._first = True
        self._when = None

    def start(self) -> None:
        """Records the machine's static facts and a first sample (at once, so that even a
        very short run has its memory), then samples on the collector's thread."""
        self.sample()
        super().start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the thread, then takes a last sample (the run's tail; the only CPU and
        rate values of a run shorter than ``interval``). Only the first stop of a started
        collector samples, and only once the thread has ended, so two samples never run at
        once; the run is still open then (``stop_sources`` precedes the store's close)."""
        thread = self._thread
        super().stop(timeout)
        if thread is None:
            return
        if thread.is_alive():
            self.report_problem(
                "stop", f"a sample was still running {timeout} s after stop; no last sample"
            )
            return
        last = self._when
        if last is None or time.monotonic() - last >= _FINAL_GAP:
            self.sample()

    def static_facts(self) -> dict[str, Any]:
        """CPU counts and memory totals: recorded once, as params under ``sys.`` (one that
        cannot be read is left out, reported once)."""
        psutil = self._psutil
        found: dict[str, Any] = {}
        for part, key, read in (  # a part's failure is the one its samples report
            ("cpu", "cpu_count", psutil.cpu_count),
            ("cpu", "cpu_count_physical", lambda: psutil.cpu_count(logical=False)),
            ("mem", "mem_total_bytes", lambda: int(psutil.virtual_memory().total)),
            ("swap", "swap_total_bytes", lambda: int(psutil.swap_memory().total)),
        ):
            try:
                found[key] = read()
            except Exception as exc:
                self._unreadable(part, exc)
        return found

    def collect(self) -> list[MetricData]:
        """One sample (the first also carries the static facts as params). Each part (CPU,
        memory, swap, disk, network, process tree) is read on its own: one that raises
        (a /proc file a container hides) is left out and reported once, the others land."""
        stamp = time.time_ns()
        now = time.monotonic()
        out: list[MetricData] = []
        first = self._first
        if first:
            self._first = False
            out.extend(facts("sys", self.static_facts(), "system"))
        units = _UNITS

        def point(name: str, value: float, unit: str) -> None:
            out.append(MetricData(name, value, _SYSTEM, None, stamp, "system", units[unit]))

        for part, read in self._parts:
            try:
                read(point, now)
            except Exception as exc:
                self._unreadable(part, exc)
        if self.config.process_tree:
            window = None if first or self._when is None else now - self._when
            try:
                self._sample_tree(point, window)
            except Exception as exc:
                self._unreadable("proc", exc)
        self._when = now
        return out

    def _unreadable(self, part: str, exc: Exception) -> None:
        self.errors += 1
        self.report_problem(
            f"read:{part}:{type(exc).__name__}",
            f"could not read {part} ({type(exc).__name__}: {exc}); left out, the rest goes on",
        )

    def _cpu(self, point: Point, now: float) -> None:
        psutil = self._psutil
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

    def _mem(self, point: Point, now: float) -> None:
        mem = self._psutil.virtual_memory()
        point("sys/mem/used_bytes", mem.used, "bytes")
        point("sys/mem/available_bytes", mem.available, "bytes")
        point("sys/mem/percent", mem.percent, "%")

    def _swap(self, point: Point, now: float) -> None:
        swap = self._psutil.swap_memory()
        point("sys/swap/used_bytes", swap.used, "bytes")
        point("sys/swap/percent", swap.percent, "%")

    def _disk(self, point: Point, now: float) -> None:
        disk = self._psutil.disk_io_counters()  # None on a machine without disks
        if disk:
            self._rate(point, 0, disk.read_bytes, now)
            self._rate(point, 1, disk.write_bytes, now)

    def _net(self, point: Point, now: float) -> None:
        net = self._psutil.net_io_counters()
        if net:
            self._rate(point, 2, net.bytes_sent, now)
            self._rate(point, 3, net.bytes_recv, now)

    def _rate(self, point: Point, which: int, reading: int, now: float) -> None:
        rate = self._rates[which]
        value = rate.update(reading, now)
        if value is not None:
            point(rate.name, value, "bytes/s")

    def _listed(self) -> dict[int, Any]:
        """This process and its descendants, keeping the ``psutil.Process`` objects of the
        last sample (same pid and creation time). A process new since then gets a CPU
        baseline of 0: it started inside the window, so all of its CPU time belongs to it
        (a DataLoader's workers, started again every epoch, would be missed otherwise)."""
        psutil = self._psutil
        me = self._self
        previous = self._tree
        try:
            children = me.children(recursive=True)
        except psutil.Error as exc:
            # a tree we cannot list this time is the last one: dropping it would make every
            # child look new at the next sample and count its whole life in one window
            self.report_problem(
                "children", f"cannot list the run's child processes ({exc}); keeping the last list"
            )
            return previous
        current = {me.pid: me}
        baselines = self._proc_cpu
        for child in children:
            known = previous.get(child.pid)
            if known is not None and known == child:
                current[child.pid] = known
            else:
                current[child.pid] = child
                baselines[child.pid] = 0.0 if self._when is not None else None
        for pid in [pid for pid in baselines if pid not in current]:
            del baselines[pid]
        return current

    def _sample_tree(self, point: Point, window: float | None) -> None:
        """RSS, CPU, threads and open files summed over this process and its descendants.

        CPU is each process's user + system time since the last sample over ``window``
        (``None``: the first sample, baselines only). A child that ended is dropped
        silently (what it used since the last sample is lost with it); one that cannot be
        read (AccessDenied) is left out and reported once.
        """
        psutil = self._psutil
        current = self._listed()
        self._tree = current
        baselines = self._proc_cpu
        rss = cpu = 0.0
        threads = files = processes = 0
        for pid, proc in list(current.items()):
            try:
                with proc.oneshot():  # all four read before any is counted
                    p_rss = proc.memory_info().rss
                    times = proc.cpu_times()
                    p_threads = proc.num_threads()
                    p_files = proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                current.pop(pid, None)  # ended between listing and reading: not a problem
                baselines.pop(pid, None)
                continue
            except psutil.AccessDenied as exc:
                baselines[pid] = None  # once readable, it starts from a fresh baseline
                self.errors += 1
                self.report_problem(
                    "access-denied",
                    f"cannot read process {pid} of the run's tree ({exc}); "
                    "it is left out of sys/proc/*",
                )
                continue
            used = times.user + times.system
            base = baselines.get(pid)
            baselines[pid] = used
            if base is not None:
                cpu += max(0.0, used - base)
            rss += p_rss
            threads += p_threads
            files += p_files
            processes += 1
        point("sys/proc/count", processes, "processes")
        point("sys/proc/rss_bytes", rss, "bytes")
        if window is not None and window > 0:
            point("sys/proc/cpu_percent", 100.0 * cpu / window, "%")
        point("sys/proc/threads", threads, "threads")
        point("sys/proc/open_files", files, "files")
