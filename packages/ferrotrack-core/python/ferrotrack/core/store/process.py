"""Identity of a process, to tell a live writer from a crashed one."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22).

    ``None`` when the process does not exist or the platform has no ``/proc``.
    A pid can be reused; pid and start time together name one process.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def host_name() -> str:
    """This machine's host name."""
    return socket.gethostname()


def current_process() -> tuple[str, int, int | None]:
    """``(host, pid, pid_start)`` of this process."""
    pid = os.getpid()
    return host_name(), pid, process_start_ticks(pid)


def is_alive(host: str, pid: int, pid_start: int | None) -> bool | None:
    """Whether that process still runs: ``None`` when it cannot be told from here."""
    if host != host_name():
        return None
    start = process_start_ticks(pid)
    if start is None:
        if Path("/proc").is_dir():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return pid_start is None or start == pid_start
