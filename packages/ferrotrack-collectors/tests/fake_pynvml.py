"""A stand-in for ``pynvml`` (nvidia-ml-py) for the sampling-path tests on a machine
without an NVIDIA driver: the calls the gpu collector makes, over devices described in
plain dicts. Only for tests named ``*_fake_*``."""

from __future__ import annotations

import threading
import types
from dataclasses import dataclass, field
from typing import Any

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2


class NVMLError(Exception):
    """Base of NVML's errors."""


class NVMLError_NotSupported(NVMLError):  # pynvml's spelling
    """The device cannot report this."""


class NVMLError_LibraryNotFound(NVMLError):
    """No libnvidia-ml."""


class NVMLError_GpuIsLost(NVMLError):
    """The device fell off the bus."""


@dataclass
class Device:
    """One fake GPU; an entry of ``fail`` (a query name) raises that error instead."""

    name: str = "NVIDIA Fake 80GB"
    used: int = 1 << 30
    total: int = 80 << 30
    util: int = 37
    mem_util: int = 12
    temperature: int = 55
    power_mw: int = 210_000
    sm_mhz: int = 1410
    mem_mhz: int = 1593
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    fail: dict[str, NVMLError] = field(default_factory=dict)
    hold: threading.Event | None = None
    """When set: a utilization query from a collector's thread waits for it (a hung call)."""
    held: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Util:
    gpu: int
    memory: int


@dataclass
class _Mem:
    used: int
    total: int
    free: int


@dataclass
class _Proc:
    pid: int
    usedGpuMemory: int | None


def make(devices: list[Device], *, init_error: NVMLError | None = None) -> Any:
    """A module object that behaves like pynvml over ``devices``; ``calls`` counts calls."""
    module = types.ModuleType("pynvml")
    state = {"init": 0, "shutdown": 0}

    def check(device: Device, query: str) -> None:
        if query in device.fail:
            raise device.fail[query]

    def init() -> None:
        if init_error is not None:
            raise init_error
        state["init"] += 1

    def shutdown() -> None:
        state["shutdown"] += 1

    def handle(i: int) -> Device:
        return devices[i]

    def utilization(d: Device) -> _Util:
        check(d, "utilization")
        if d.hold is not None and threading.current_thread().name.startswith("ferrotrack-"):
            d.held.set()
            d.hold.wait(60)
        return _Util(d.util, d.mem_util)

    def memory(d: Device) -> _Mem:
        check(d, "memory")
        return _Mem(d.used, d.total, d.total - d.used)

    def temperature(d: Device, sensor: int) -> int:
        assert sensor == NVML_TEMPERATURE_GPU
        check(d, "temperature")
        return d.temperature

    def power(d: Device) -> int:
        check(d, "power")
        return d.power_mw

    def clock(d: Device, which: int) -> int:
        check(d, "clock")
        return d.sm_mhz if which == NVML_CLOCK_SM else d.mem_mhz

    def compute(d: Device) -> list[_Proc]:
        check(d, "processes")
        return [_Proc(pid, used) for pid, used in d.processes]

    def graphics(d: Device) -> list[_Proc]:
        raise NVMLError_NotSupported("graphics processes")

    module.__dict__.update(
        NVML_TEMPERATURE_GPU=NVML_TEMPERATURE_GPU,
        NVML_CLOCK_SM=NVML_CLOCK_SM,
        NVML_CLOCK_MEM=NVML_CLOCK_MEM,
        NVMLError=NVMLError,
        NVMLError_NotSupported=NVMLError_NotSupported,
        NVMLError_LibraryNotFound=NVMLError_LibraryNotFound,
        NVMLError_GpuIsLost=NVMLError_GpuIsLost,
        nvmlInit=init,
        nvmlShutdown=shutdown,
        nvmlDeviceGetCount=lambda: len(devices),
        nvmlDeviceGetHandleByIndex=handle,
        nvmlSystemGetDriverVersion=lambda: "560.35.03",
        nvmlSystemGetCudaDriverVersion=lambda: 12060,
        nvmlSystemGetNVMLVersion=lambda: b"12.560.35.03",
        nvmlDeviceGetName=lambda d: d.name,
        nvmlDeviceGetUtilizationRates=utilization,
        nvmlDeviceGetMemoryInfo=memory,
        nvmlDeviceGetTemperature=temperature,
        nvmlDeviceGetPowerUsage=power,
        nvmlDeviceGetClockInfo=clock,
        nvmlDeviceGetComputeRunningProcesses=compute,
        nvmlDeviceGetGraphicsRunningProcesses=graphics,
        state=state,
    )
    return module
