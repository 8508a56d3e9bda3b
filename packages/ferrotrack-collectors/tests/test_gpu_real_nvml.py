"""The gpu collector against the real nvidia-ml-py, on every machine: unavailable with
NVML's reason where there is no driver (here), samples where there is a GPU."""

from __future__ import annotations

import warnings

import ferrotrack.core as ft
from ferrotrack.collectors.gpu import GpuCollector
from ferrotrack.core.errors import PluginWarning


def test_real_nvml_is_unavailable_with_a_reason_or_samples(root: object) -> None:
    """The real nvidia-ml-py: without a driver (here) the collector is listed unavailable
    with NVML's reason and start_run warns once naming it, the run going on; with a GPU
    it records each device's memory."""
    reason = GpuCollector.unavailable_reason()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ft.start_run("gpu-real", collectors=["gpu"]) as run:
            run.log("loss", 0.5, step=0)
    plugin_warnings = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    names = set(ft.metrics(names=None).collect()["name"].to_list())
    if reason is None:
        assert plugin_warnings == []
        assert "gpu/0/mem_total_bytes" in names
    else:
        assert "NVML" in reason
        assert len(plugin_warnings) == 1
        assert "'gpu'" in plugin_warnings[0]
        assert "NVML cannot start" in plugin_warnings[0]
        assert names == {"loss"}
