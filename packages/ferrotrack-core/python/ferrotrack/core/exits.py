"""How runs end with the process: at interpreter exit, after an uncaught error, on SIGTERM."""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from ferrotrack.core import active

if TYPE_CHECKING:
    from ferrotrack.core.run import Status

__all__ = ["install_signal_handlers"]

_last_exception: BaseException | None = None


def _excepthook(tp: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    global _last_exception
    _last_exception = exc
    _previous_excepthook(tp, exc, tb)


_previous_excepthook = sys.excepthook
sys.excepthook = _excepthook


@atexit.register
def _finish_at_exit() -> None:
    """Runs still open when the interpreter exits are finished (failed after an uncaught error)."""
    for run in active.open_runs():
        try:
            if _last_exception is not None:
                status: Status = (
                    "killed" if isinstance(_last_exception, KeyboardInterrupt) else "failed"
                )
                run.finish(status, error=_last_exception)
            else:
                run.finish("finished")
        except Exception as e:
            print(f"ferrotrack: could not finish run {run.run_id}: {e}", file=sys.stderr)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Flush, mark killed, then let the signal do what it would have done."""
    for run in active.open_runs():
        try:
            run.finish("killed", signal_name=signal.Signals(signum).name)
        except Exception as e:
            print(f"ferrotrack: could not finish run {run.run_id}: {e}", file=sys.stderr)
    previous = _previous_handlers.pop(signum, signal.SIG_DFL)
    signal.signal(signum, previous)
    if callable(previous):
        previous(signum, frame)
    else:
        os.kill(os.getpid(), signum)


_previous_handlers: dict[int, Any] = {}


def install_signal_handlers() -> Callable[[], None] | None:
    """Handles SIGTERM while runs are open (main thread only; SIGINT is a KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread() or _previous_handlers:
        return None
    try:
        _previous_handlers[signal.SIGTERM] = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        return None

    def restore() -> None:
        if active.current() is not None:
            return
        previous = _previous_handlers.pop(signal.SIGTERM, None)
        if previous is not None and signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return restore
