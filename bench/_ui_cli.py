"""``ferrotrack ui`` as a person starts it, for the UI benchmarks' first-request figures: its
own process (the benchmark's client must not share the server's interpreter lock), a free
port, and the URL it prints, which is when a person could first open it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ferrotrack.core.testing import stop_process

__all__ = ["cli_server"]

_URL = re.compile(r"ferrotrack ui: (http://\S+)")


@contextmanager
def cli_server(root: Path, *, timeout: float = 60.0) -> Iterator[tuple[str, float]]:
    """Starts ``ferrotrack ui --root root --port 0``; yields its URL (no trailing slash)
    and the seconds from the start of the process to the printed URL; stops it after."""
    exe = Path(sys.executable).with_name("ferrotrack")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [str(exe), "ui", "--root", str(root), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = proc.stdout.readline()
        while not _URL.search(line):
            if (not line and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"ferrotrack ui did not print its URL (exit {proc.poll()})")
            line = proc.stdout.readline()
        match = _URL.search(line)
        assert match is not None
        yield match.group(1).rstrip("/"), time.perf_counter() - t0
    finally:
        stop_process(proc)
