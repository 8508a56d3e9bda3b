"""How runs end with the process: at interpreter exit, after an uncaught error, on SIGTERM.

The status of a run left open at exit does not depend on who owns ``sys.excepthook``
(rich, IPython and many CLIs replace it): CPython stores an uncaught exception of the main
thread in ``sys.last_exc`` (3.12+) / ``sys.last_value`` *before* it calls the hook, and the
``atexit`` hook reads it there. An exception that kills a worker thread does not end the
process, so it does not decide the run's status either.

SIGTERM is handled while at least one run that installed the handling is open: the first
such run installs it, the last one to finish puts back exactly what was there before (the
default action or the user's own handler), run after run, nested runs included.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from ferrotrack.core import active

if TYPE_CHECKING:
    pass

__all__ = ["SigtermClaim", "claim_sigterm", "exit_exception", "note_start"]

_seen_at_start: BaseException | None = None


def _last_uncaught() -> BaseException | None:
    exc = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    return exc if isinstance(exc, BaseException) else None


def _interactive() -> bool:
    """A prompt shows errors without ending the process (REPL, ``python -i``, IPython)."""
    if sys.flags.interactive or hasattr(sys, "ps1"):
        return True
    ipython = sys.modules.get("IPython")
    return ipython is not None and getattr(ipython, "get_ipython", lambda: None)() is not None


def note_start() -> None:
    """Called when a run starts: an error recorded before it cannot be the one that ends it.

    (pytest, debuggers and REPLs leave ``sys.last_value`` behind for errors they handled.)
    """
    global _seen_at_start
    _seen_at_start = _last_uncaught()


def exit_exception() -> BaseException | None:
    """The uncaught exception that is ending the interpreter, if one is (read at exit)."""
    exc = _last_uncaught()
    if exc is None or exc is _seen_at_start or _interactive():
        return None
    return exc


@atexit.register
def _finish_at_exit() -> None:
    """Runs still open when the interpreter exits are finished (failed after an uncaught error)."""
    exc = exit_exception()
    for run in active.open_runs():
        try:
            if exc is None:
                run.finish("finished")
            elif isinstance(exc, KeyboardInterrupt):
                run.finish("killed", error=exc, signal_name="SIGINT")
            else:
                run.finish("failed", error=exc)
        except Exception as e:
            print(f"ferrotrack: could not finish run {run.run_id}: {e}", file=sys.stderr)


# --- SIGTERM -------------------------------------------------------------------------------

_lock = threading.RLock()
_holders = 0
_previous: Any = None
"""The handler that was there before ferrotrack's (valid while ours is installed)."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Flush, mark killed, then let the signal do what it would have done."""
    previous = _previous
    for run in active.open_runs():
        try:
            run.finish("killed", signal_name=signal.Signals(signum).name)
        except Exception as e:
            print(f"ferrotrack: could not finish run {run.run_id}: {e}", file=sys.stderr)
    _put_back()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _put_back() -> None:
    """Restores the handler found before ours, if ours is still the one installed."""
    global _previous
    with _lock:
        if _previous is None or threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is _on_sigterm:
            signal.signal(signal.SIGTERM, _previous)
        _previous = None


class SigtermClaim:
    """One run's share of the SIGTERM handling; :meth:`release` once, when the run ends."""

    __slots__ = ("_held",)

    def __init__(self, held: bool) -> None:
        self._held = held

    def release(self) -> None:
        """Gives the share back; the last share puts back what was there."""
        global _holders
        with _lock:
            if not self._held:
                return
            self._held = False
            _holders -= 1
            if _holders == 0:
                _put_back()


def claim_sigterm() -> SigtermClaim:
    """Installs ferrotrack's SIGTERM handling for one more run (main thread only).

    A SIGTERM handler that is ``SIG_IGN`` or not installed from Python is left alone:
    it could not be put back exactly.
    """
    global _holders, _previous
    with _lock:
        if threading.current_thread() is not threading.main_thread():
            return SigtermClaim(False)
        current = signal.getsignal(signal.SIGTERM)
        if current is not _on_sigterm:
            if current is None or current == signal.SIG_IGN:
                return SigtermClaim(False)
            try:
                signal.signal(signal.SIGTERM, _on_sigterm)
            except ValueError:
                return SigtermClaim(False)
            _previous = current
        _holders += 1
        return SigtermClaim(True)
