"""A full disk and a read-only store: a clear error at the call, earlier data intact.

These tests mount small tmpfs file systems, which needs root (as on CI machines).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ferrotrack.core as ft
from ferrotrack.core import errors
from ferrotrack.core._native import read_run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root"),
]


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def remount(mnt: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mnt)], check=True)


def test_a_full_disk_raises_at_a_call_and_keeps_what_was_written(small_fs: Path) -> None:
    run = ft.start_run(root=small_fs / "store", flush_interval=0.05)
    noise = np.random.default_rng(0).normal(size=100_000)
    logged = 0

    def fill() -> None:
        nonlocal logged
        for _ in range(1000):
            run.log_array("noise", noise)
            logged += len(noise)
            run.flush()

    with pytest.raises(errors.StoreWriteError, match="No space left on device") as info:
        fill()
    assert isinstance(info.value, OSError)
    written = pl.DataFrame(read_run(run.run_dir))
    assert 0 < written.height <= logged
    # What reached the disk is exactly the first points, in order.
    assert written["step"].to_list() == list(range(written.height))
    # Finishing cannot write either, and says so; the run stays open meanwhile.
    with pytest.raises(errors.StoreWriteError):
        run.finish()
    assert run.status == "running"
    # Make room; the points that failed to write are still in memory.
    for leftover in run.run_dir.glob("metrics/.*.tmp"):
        leftover.unlink()
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_fs)], check=True)
    run.finish()
    assert pl.DataFrame(read_run(run.run_dir)).height == logged


def test_a_read_only_root_is_refused_at_start(small_fs: Path) -> None:
    remount(small_fs, "ro")
    with pytest.raises(errors.StoreWriteError, match="Read-only file system"):
        ft.start_run(root=small_fs / "store")
    assert ft.active_run() is None


def test_a_store_turning_read_only_mid_run_raises_at_a_call(small_fs: Path) -> None:
    run = ft.start_run(root=small_fs / "store", flush_interval=0.05)
    for i in range(1000):
        run.log("x", float(i))
    run.flush()
    remount(small_fs, "ro")

    def keep_logging() -> None:
        for i in range(1000, 100_000):
            run.log("x", float(i))
            if i % 1000 == 0:
                run.flush()

    with pytest.raises(errors.StoreWriteError, match="Read-only file system"):
        keep_logging()
    assert pl.DataFrame(read_run(run.run_dir))["step"].to_list() == list(range(1000))
    remount(small_fs, "rw")
    run.finish()
    assert run.status == "finished"
