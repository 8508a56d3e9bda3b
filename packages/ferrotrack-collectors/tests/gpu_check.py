"""The gpu collector on a real GPU machine (the lead runs it where a GPU is lent):

    python packages/ferrotrack-collectors/tests/gpu_check.py

Starts a run with the gpu collector (0.5 s interval) in a temporary store, allocates 1 GiB
on the first CUDA device with torch when it can, waits for a few samples, then prints the
params and each ``gpu/…`` series (count, last value) that landed, and checks that the
run's own process shows the allocation in ``gpu/0/proc_mem_bytes``. Exit status 0 when
everything expected landed, 1 otherwise (2 when NVML is unavailable, with the reason).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Any


def main() -> int:
    import ferrotrack.core as ft
    from ferrotrack.collectors.gpu import GpuCollector

    reason = GpuCollector.unavailable_reason()
    print(f"unavailable_reason: {reason}")
    if reason is not None:
        return 2
    os.environ["FERROTRACK_ROOT"] = tempfile.mkdtemp(prefix="ferrotrack-gpu-check-")
    gpu = GpuCollector()
    gpu.initialize({"interval": 0.5})
    held: Any = None
    allocated = 0
    with ft.start_run("gpu-check", experiment="gpu-check", collectors=[gpu]) as run:
        try:
            import torch

            if torch.cuda.is_available():
                held = torch.ones(1 << 28, dtype=torch.float32, device="cuda")  # 1 GiB
                torch.cuda.synchronize()
                allocated = held.numel() * held.element_size()
                print(f"torch: {torch.cuda.get_device_name(0)}, allocated {allocated} bytes")
            else:
                print("torch: CUDA not available; no allocation")
        except ImportError:
            print("torch: not installed; no allocation")
        start = gpu.samples
        deadline = time.monotonic() + 30
        while gpu.samples < start + 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        run_dir = run.run_dir
    del held
    params = json.loads((run_dir / "params.json").read_text())
    print("params:", json.dumps(params.get("gpu"), indent=2))
    points = ft.metrics(experiment="gpu-check").collect()
    ok = True
    series = points.group_by("name").agg(count=ft_len(), last=ft_last()).sort("name")
    for name, count, last in series.iter_rows():
        print(f"{name!s}: {count} points, last {last}")
    names = set(points["name"].to_list())
    for needed in ("gpu/0/util_percent", "gpu/0/mem_used_bytes", "gpu/0/mem_total_bytes"):
        if needed not in names:
            print(f"MISSING: {needed}")
            ok = False
    if allocated:
        own: Any = points.filter(points["name"] == "gpu/0/proc_mem_bytes")["value"].max()
        print(f"gpu/0/proc_mem_bytes max: {own} (allocated {allocated})")
        if own is None or float(own) < allocated:
            print("MISSING: the run's own allocation in gpu/0/proc_mem_bytes")
            ok = False
    print(f"errors: {gpu.errors}; samples: {gpu.samples}")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def ft_len() -> Any:
    import polars as pl

    return pl.len()


def ft_last() -> Any:
    import polars as pl

    return pl.col("value").last()


if __name__ == "__main__":
    sys.exit(main())
