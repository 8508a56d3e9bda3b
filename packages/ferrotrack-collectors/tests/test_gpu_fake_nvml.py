"""The gpu collector's sampling path over a fake pynvml (this machine has no NVIDIA
driver); test_gpu_real_nvml.py checks the real nvidia-ml-py."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any, cast

import fake_pynvml  # tests/ is on sys.path (conftest)
import pytest
from fake_pynvml import Device

from ferrotrack.collectors.gpu import GpuCollector, GpuUnavailableError
from ferrotrack.core.plugins import MetricData, MetricType


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    kids: list[subprocess.Popen[bytes]] = []
    yield kids
    for kid in kids:
        kid.kill()
        kid.wait()


def started(monkeypatch: pytest.MonkeyPatch, fakes: list[Device], **config: object) -> Any:
    module = fake_pynvml.make(fakes)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    c = GpuCollector()
    c.initialize({"interval": 3600, **config})
    got: list[list[MetricData]] = []
    c.bind(got.append)
    c.start()
    return c, got, module


def test_fake_nvml_samples_every_device(
    monkeypatch: pytest.MonkeyPatch, children: list[subprocess.Popen[bytes]]
) -> None:
    kid = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                           stdin=subprocess.PIPE)  # fmt: skip
    children.append(kid)
    devices = [
        Device(processes=[(os.getpid(), 3 << 30), (kid.pid, 1 << 30), (1, 5 << 30)]),
        Device(name="NVIDIA Fake 40GB", total=40 << 30, processes=[(kid.pid, None)]),
    ]
    c, got, module = started(monkeypatch, devices)
    first = got[0]
    params = {m.name: m.value for m in first if m.type is MetricType.PARAMETER}
    assert params == {
        "gpu.count": 2,
        "gpu.driver": "560.35.03",
        "gpu.cuda_version": "12.6",
        "gpu.nvml_version": "12.560.35.03",
        "gpu.devices.0.name": "NVIDIA Fake 80GB",
        "gpu.devices.0.mem_total_bytes": 80 << 30,
        "gpu.devices.1.name": "NVIDIA Fake 40GB",
        "gpu.devices.1.mem_total_bytes": 40 << 30,
    }
    points = {m.name: m.value for m in first if m.type is MetricType.SYSTEM}
    assert points["gpu/0/util_percent"] == 37
    assert points["gpu/0/mem_util_percent"] == 12
    assert points["gpu/0/mem_used_bytes"] == 1 << 30
    assert points["gpu/1/mem_total_bytes"] == 40 << 30
    assert points["gpu/0/temperature_c"] == 55
    assert points["gpu/0/power_watts"] == 210.0
    assert points["gpu/0/clock_sm_mhz"] == 1410
    assert points["gpu/0/clock_mem_mhz"] == 1593
    assert points["gpu/0/proc_mem_bytes"] == 4 << 30  # ours and our child's; not pid 1's
    assert points["gpu/1/proc_mem_bytes"] == 0  # NVML could not say (None)
    assert all(m.metadata.get("unit") for m in first if m.type is MetricType.SYSTEM)
    c.sample()
    assert not [m for m in got[1] if m.type is MetricType.PARAMETER]  # facts once
    c.stop()
    assert module.state == {"init": 1, "shutdown": 1}
    assert c.errors == 0


def test_fake_nvml_unsupported_fields_are_skipped_quietly_and_asked_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    device = Device(fail={"power": fake_pynvml.NVMLError_NotSupported("power")})
    with caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"):
        c, got, _ = started(monkeypatch, [device])
        c.sample()
        c.stop()
    assert not [m for batch in got for m in batch if m.name == "gpu/0/power_watts"]
    assert (0, "power") in c._unsupported
    assert c.errors == 0
    assert not caplog.records


def test_fake_nvml_a_failing_query_is_reported_once_and_the_rest_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    device = Device(fail={"temperature": fake_pynvml.NVMLError_GpuIsLost("GPU is lost")})
    with caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"):
        c, got, _ = started(monkeypatch, [device])
        for _ in range(3):
            c.sample()
        c.stop()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "'gpu'" in warned[0]
    assert "temperature of device 0: GPU is lost" in warned[0]
    assert c.errors == 4
    assert all("gpu/0/util_percent" in {m.name for m in batch} for batch in got)


def test_fake_nvml_without_a_driver_it_is_unavailable_and_initialize_says_why(
    root: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = fake_pynvml.NVMLError_LibraryNotFound("NVML Shared Library Not Found")
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml.make([], init_error=missing))
    assert "NVML Shared Library Not Found" in str(GpuCollector.unavailable_reason())
    with pytest.raises(GpuUnavailableError, match="NVML cannot start"):
        GpuCollector().initialize({})


def test_fake_nvml_devices_option(monkeypatch: pytest.MonkeyPatch) -> None:
    c, got, _ = started(monkeypatch, [Device(), Device()], devices=[1])
    names = {m.name for m in got[0]}
    assert "gpu/1/util_percent" in names
    assert "gpu/0/util_percent" not in names
    c.stop()
    with pytest.raises(GpuUnavailableError, match="no device to sample"):
        started(monkeypatch, [Device()], devices=[3])


def test_fake_nvml_a_non_number_is_left_out_and_reported_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A driver answering text where a number belongs: that point is dropped (a warning
    naming the collector and the metric, once), every other point of the sample lands."""
    device = Device(temperature=cast(Any, "N/A"))
    with caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"):
        c, got, _ = started(monkeypatch, [device])
        for _ in range(3):
            c.sample()
        c.stop()
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "'gpu'" in warned[0]
    assert "'gpu/0/temperature_c'" in warned[0]
    assert len(got) == 4
    for batch in got:
        names = {m.name for m in batch}
        assert "gpu/0/temperature_c" not in names
        assert {"gpu/0/util_percent", "gpu/0/power_watts"} <= names


def test_fake_nvml_is_not_shut_down_under_a_hung_sample(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A sample stuck inside NVML past stop's timeout: stop returns and warns, and does not
    call nvmlShutdown under the running call."""
    hold = threading.Event()
    device = Device(hold=hold)
    c, _, module = started(monkeypatch, [device], interval=0.01)
    assert device.held.wait(30)
    [thread] = [t for t in threading.enumerate() if t.name == "ferrotrack-collector-gpu"]
    with caplog.at_level(logging.WARNING, logger="ferrotrack.collectors"):
        c.stop(timeout=0.05)
    hold.set()
    thread.join(30)
    assert not thread.is_alive()
    assert module.state == {"init": 1, "shutdown": 0}
    assert [r for r in caplog.records if "NVML left running" in r.getMessage()]


def test_fake_nvml_devices_that_do_not_exist_are_reported(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ferrotrack.collectors"):
        c, got, _ = started(monkeypatch, [Device()], devices=[0, 5])
    c.stop()
    assert "gpu/0/util_percent" in {m.name for m in got[0]}
    [warned] = [r.getMessage() for r in caplog.records]
    assert "has no device [5] (1 found); sampling [0]" in warned
