"""Helpers of the run package's tests: python one-liners as commands, waiting with deadlines,
and finding processes by a unique marker in their command line."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

PY = sys.executable


def py(code: str) -> list[str]:
    """The argv of a python one-liner (this interpreter: ferrotrack is importable)."""
    return [PY, "-c", code]


def wait_for(what: str, check: Callable[[], bool], deadline_s: float = 30.0) -> None:
    """Polls ``check`` until it holds, failing with ``what`` after ``deadline_s``."""
    deadline = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(0.02)  # polling a condition, bounded by the deadline


MARK = "FT_TEST_MARK"
"""An environment variable every process of a test's command inherits (grandchildren
included), so none can hide from :func:`processes_with` by its command line."""


def processes_with(marker: str) -> list[psutil.Process]:
    """Live processes whose command line or environment (``FT_TEST_MARK``) holds ``marker``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if marker in cmdline or proc.environ().get(MARK) == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def log_text(run_dir: Path, stream: str = "stdout") -> str:
    return (run_dir / "logs" / f"{stream}.txt").read_text()
