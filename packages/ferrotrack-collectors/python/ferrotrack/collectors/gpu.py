"""The ``gpu`` collector: per NVIDIA device utilisation, memory, temperature, power and
clocks, and the GPU memory of the run's own processes, sampled through NVML
(``nvidia-ml-py``, imported as ``pynvml`` only when the collector starts). Static facts
(device names, driver and CUDA versions) are recorded once, as params under ``gpu.``.

Without a driver, :meth:`GpuCollector.unavailable_reason` says why (``ferrotrack plugins
list`` shows it) and asking for the collector in ``start_run`` warns once
(:class:`~ferrotrack.core.errors.PluginWarning`); the run goes on without it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
import time
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import CollectorConfig, facts, metadata
from ferrotrack.core.errors import FerrotrackError
from ferrotrack.core.plugins import CollectorPlugin, MetricData, MetricType, PluginMetadata
from ferrotrack.core.plugins.imports import require

__all__ = ["GpuCollector", "GpuConfig", "GpuUnavailableError"]

_INSTALL = "pip install ferrotrack-collectors[gpu]"
_SYSTEM = MetricType.SYSTEM
_reasons: dict[int, tuple[Any, str | None]] = {}
_reasons_lock = threading.Lock()


class GpuUnavailableError(FerrotrackError, RuntimeError):
    """NVML cannot start on this machine (no NVIDIA driver, no device)."""


class GpuConfig(CollectorConfig):
    """How the ``gpu`` collector samples."""

    interval: float = Field(default=10.0, gt=0, description="Seconds between samples.")
    devices: list[int] | None = Field(
        default=None, description="Indices of the devices to sample (default: every device)."
    )
    processes: bool = Field(
        default=True, description="Record gpu/<i>/proc_mem_bytes, the run's processes' GPU memory."
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _cuda_version(raw: int) -> str:
    """NVML's CUDA version number (12040) as people write it (12.4)."""
    return f"{raw // 1000}.{raw % 1000 // 10}"


class GpuCollector(CollectorPlugin):
    """Samples NVIDIA GPUs through NVML (see the module docstring)."""

    interval: float | None = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._nvml: Any = None
        self._handles: list[tuple[int, Any]] = []
        self._names: dict[int, dict[str, str]] = {}
        self._unsupported: set[tuple[int, str]] = set()
        self._first = True
        self._me: Any = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``gpu``."""
        return metadata(
            "gpu",
            "NVIDIA GPU utilisation, memory, temperature, power, clocks (NVML).",
            GpuConfig,
            dependencies=["pynvml"],
            extra="gpu",
        )

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why NVML cannot work here (no driver, no device), or ``None``; asked once per
        process (per pynvml module), never raises."""
        try:
            nvml = importlib.import_module("pynvml")
        except Exception as exc:
            return f"nvidia-ml-py cannot be imported ({exc}): {_INSTALL}"
        with _reasons_lock:
            known = _reasons.get(id(nvml))
            if known is None or known[0] is not nvml:  # the module kept: its id stays its own
                known = _reasons[id(nvml)] = (nvml, _probe(nvml))
            return known[1]

    def initialize(self, config: Any = None) -> None:
        """Starts NVML; raises :class:`GpuUnavailableError` saying why when it cannot."""
        super().initialize(config)
        nvml = require("pynvml", "the gpu collector", install=_INSTALL)
        try:
            nvml.nvmlInit()
        except Exception as exc:
            raise GpuUnavailableError(
                f"collector 'gpu': NVML cannot start ({exc}); is an NVIDIA driver installed?"
            ) from exc
        self._nvml = nvml
        try:
            count = int(nvml.nvmlDeviceGetCount())
            wanted = self.config.devices
            indices = [i for i in range(count) if wanted is None or i in wanted]
            if not indices:
                raise GpuUnavailableError(
                    f"collector 'gpu': no device to sample ({count} found, asked for {wanted})"
                )
            absent = sorted(set(wanted or ()) - set(indices))
            if absent:
                self.report_problem(
                    "devices", f"has no device {absent} ({count} found); sampling {indices}"
                )
            self._handles = [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in indices]
        except BaseException:
            self._shutdown()
            raise
        self._names = {
            i: {
                key: f"gpu/{i}/{key}"
                for key in (
                    "util_percent",
                    "mem_util_percent",
                    "mem_used_bytes",
                    "mem_total_bytes",
                    "temperature_c",
                    "power_watts",
                    "clock_sm_mhz",
                    "clock_mem_mhz",
                    "proc_mem_bytes",
                )
            }
            for i, _ in self._handles
        }
        if self.config.processes:
            import psutil

            self._me = psutil.Process(os.getpid())
        self._first = True

    def start(self) -> None:
        """Records the static facts and a first sample at once, then samples on a thread."""
        self.sample()
        super().start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops sampling and shuts NVML down, unless a sample is still inside NVML after
        ``timeout`` seconds (a hung driver): shutting NVML down under a running call could
        crash the process, so NVML is then left initialized, with a warning."""
        thread = self._thread
        super().stop(timeout)
        if thread is not None and thread.is_alive():
            self.report_problem(
                "stop", f"a sample was still running {timeout} s after stop; NVML left running"
            )
            return
        self._shutdown()

    def _shutdown(self) -> None:
        nvml, self._nvml = self._nvml, None
        if nvml is not None:
            with contextlib.suppress(Exception):  # shutting down must never fail the run
                nvml.nvmlShutdown()

    def static_facts(self) -> dict[str, Any]:
        """Driver and CUDA versions and each device's name and memory (params ``gpu.*``)."""
        nvml = self._nvml
        found: dict[str, Any] = {"count": int(nvml.nvmlDeviceGetCount())}
        for key, call in (
            ("driver", lambda: _text(nvml.nvmlSystemGetDriverVersion())),
            ("cuda_version", lambda: _cuda_version(int(nvml.nvmlSystemGetCudaDriverVersion()))),
            ("nvml_version", lambda: _text(nvml.nvmlSystemGetNVMLVersion())),
        ):
            value = self._query(-1, key, call)
            if value is not None:
                found[key] = value
        devices: dict[str, Any] = {}
        for i, handle in self._handles:
            device: dict[str, Any] = {}
            name = self._query(i, "name", lambda h=handle: _text(nvml.nvmlDeviceGetName(h)))
            if name is not None:
                device["name"] = name
            mem = self._query(i, "memory", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            if mem is not None:
                device["mem_total_bytes"] = int(mem.total)
            devices[str(i)] = device
        found["devices"] = devices
        return found

    def _query(self, index: int, field: str, call: Any) -> Any:
        """``call()``, or ``None`` when the device does not support it (asked once) or NVML
        fails (reported once per field, counted in :attr:`errors`)."""
        if (index, field) in self._unsupported:
            return None
        nvml = self._nvml
        try:
            return call()
        except nvml.NVMLError_NotSupported:
            self._unsupported.add((index, field))
        except nvml.NVMLError as exc:
            self.errors += 1
            where = "NVML" if index < 0 else f"device {index}"
            self.report_problem(f"nvml:{field}", f"could not read {field} of {where}: {exc}")
        return None

    def _run_pids(self) -> set[int]:
        me = self._me
        pids = {me.pid}
        # the tree changing while listed: this sample counts this process only
        with contextlib.suppress(Exception):
            pids.update(p.pid for p in me.children(recursive=True))
        return pids

    def collect(self) -> list[MetricData]:
        """One sample of every device (the first also carries the static facts)."""
        nvml = self._nvml
        if nvml is None:
            return []
        stamp = time.time_ns()
        out: list[MetricData] = []
        if self._first:
            self._first = False
            out.extend(facts("gpu", self.static_facts(), "gpu"))

        def point(name: str, value: float, unit: str) -> None:
            out.append(MetricData(name, value, _SYSTEM, None, stamp, "gpu", {"unit": unit}))

        pids = self._run_pids() if self._me is not None else None
        for i, handle in self._handles:
            names = self._names[i]
            util = self._query(
                i, "utilization", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h)
            )
            if util is not None:
                point(names["util_percent"], util.gpu, "%")
                point(names["mem_util_percent"], util.memory, "%")
            mem = self._query(i, "memory", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            if mem is not None:
                point(names["mem_used_bytes"], mem.used, "bytes")
                point(names["mem_total_bytes"], mem.total, "bytes")
            temp = self._query(
                i,
                "temperature",
                lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU),
            )
            if temp is not None:
                point(names["temperature_c"], temp, "°C")
            power = self._query(i, "power", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
            if power is not None:
                point(names["power_watts"], power / 1000.0, "W")
            for key, clock in (
                ("clock_sm_mhz", "NVML_CLOCK_SM"),
                ("clock_mem_mhz", "NVML_CLOCK_MEM"),
            ):
                mhz = self._query(
                    i,
                    key,
                    lambda h=handle, c=clock: nvml.nvmlDeviceGetClockInfo(h, getattr(nvml, c)),
                )
                if mhz is not None:
                    point(names[key], mhz, "MHz")
            if pids is not None:
                used = self._process_memory(i, handle, pids)
                if used is not None:
                    point(names["proc_mem_bytes"], used, "bytes")
        return out

    def _process_memory(self, index: int, handle: Any, pids: set[int]) -> int | None:
        """GPU memory the run's processes hold on one device (compute and graphics)."""
        nvml = self._nvml
        seen: dict[int, int] = {}
        any_list = False
        for field, call in (
            ("compute_processes", nvml.nvmlDeviceGetComputeRunningProcesses),
            ("graphics_processes", nvml.nvmlDeviceGetGraphicsRunningProcesses),
        ):
            listed = self._query(index, field, lambda c=call: c(handle))
            if listed is None:
                continue
            any_list = True
            for proc in listed:
                used = getattr(proc, "usedGpuMemory", None)
                if proc.pid in pids and isinstance(used, int):
                    seen[proc.pid] = max(seen.get(proc.pid, 0), used)
        return sum(seen.values()) if any_list else None


def _probe(nvml: Any) -> str | None:
    try:
        nvml.nvmlInit()
    except Exception as exc:
        return f"NVML cannot start: {exc} (no NVIDIA driver on this machine?)"
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception as exc:
        return f"NVML cannot count devices: {exc}"
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()
    return None if count > 0 else "NVML found no NVIDIA device"
