"""``ferrotrack.core.testing.stop_process``: the servers tests and benchmarks start end, and
are reaped, whether or not they heed SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

from ferrotrack.core.testing import stop_process

IGNORES_TERM = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_process_that_heeds_sigterm_ends_with_it() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop_process(proc)
    assert proc.returncode == -signal.SIGTERM


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout() -> None:
    proc = subprocess.Popen([sys.executable, "-c", IGNORES_TERM], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"  # its handler is in place
    stop_process(proc, timeout=0.2)
    assert proc.returncode == -signal.SIGKILL


def test_an_ended_process_is_left_as_it_was() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    proc.wait()
    stop_process(proc)
    assert proc.returncode == 3
