"""How runs end with the process: the status at exit whoever owns ``sys.excepthook``, and
SIGTERM handling that puts back exactly what was there."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

import ferrotrack.core as ft
from ferrotrack.core import exits


def run_script(code: str, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, "FERROTRACK_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def only_run(root: Path) -> dict[str, Any]:
    (rdir,) = root.glob("experiment=*/run=*")
    data: dict[str, Any] = json.loads((rdir / "run.json").read_text())
    return data


HOOKS = {
    "a plain function": "sys.excepthook = lambda *a: print('hooked', file=sys.stderr)",
    "rich": "import rich.traceback; rich.traceback.install()",
}


@pytest.mark.slow
@pytest.mark.parametrize("hook", HOOKS.values(), ids=HOOKS.keys())
def test_a_crash_is_failed_whoever_replaced_the_excepthook(root: Path, hook: str) -> None:
    done = run_script(
        f"""
        import sys
        import ferrotrack.core as ft
        {hook}
        ft.start_run("script")
        ft.log("x", 1.0)
        raise RuntimeError("diverged")
        """,
        root,
    )
    assert done.returncode == 1, done.stderr
    meta = only_run(root)
    assert meta["status"] == "failed"
    assert meta["error"]["type"] == "RuntimeError"
    assert meta["error"]["message"] == "diverged"
    assert "diverged" in meta["error"]["traceback"]


@pytest.mark.slow
@pytest.mark.parametrize("hook", HOOKS.values(), ids=HOOKS.keys())
def test_an_uncaught_keyboard_interrupt_is_killed(root: Path, hook: str) -> None:
    done = run_script(
        f"""
        import sys
        import ferrotrack.core as ft
        {hook}
        ft.start_run("script")
        raise KeyboardInterrupt
        """,
        root,
    )
    assert done.returncode != 0
    meta = only_run(root)
    assert (meta["status"], meta["signal"]) == ("killed", "SIGINT")


@pytest.mark.slow
@pytest.mark.parametrize("hook", HOOKS.values(), ids=HOOKS.keys())
def test_a_normal_end_is_finished_even_after_a_handled_error(root: Path, hook: str) -> None:
    done = run_script(
        f"""
        import sys, threading
        import ferrotrack.core as ft
        {hook}
        try:
            raise ValueError("handled before the run")
        except ValueError:
            sys.last_value = sys.exc_info()[1]   # what pytest and debuggers leave behind
        ft.start_run("script")
        def die():
            raise RuntimeError("a worker thread died")
        t = threading.Thread(target=die)
        t.start()
        t.join()
        ft.log("x", 1.0)
        """,
        root,
    )
    assert done.returncode == 0, done.stderr
    assert "a worker thread died" in done.stderr
    assert only_run(root)["status"] == "finished"


# --- SIGTERM handling put back -------------------------------------------------------------


def user_handler(signum: int, frame: FrameType | None) -> None:
    """A handler of the user's own."""


@pytest.fixture
def sigterm() -> Iterator[None]:
    """Leaves the SIGTERM handler of the test process as it found it."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("before", [signal.SIG_DFL, user_handler], ids=["default", "user"])
def test_each_run_puts_back_the_handler_it_found(root: Path, sigterm: None, before: Any) -> None:
    signal.signal(signal.SIGTERM, before)
    for _ in range(3):
        with ft.start_run():
            assert signal.getsignal(signal.SIGTERM) is exits._on_sigterm
        assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("inner_first", [True, False])
def test_nested_runs_put_it_back_when_the_last_one_ends(
    root: Path, sigterm: None, inner_first: bool
) -> None:
    signal.signal(signal.SIGTERM, user_handler)
    outer = ft.start_run("outer")
    inner = ft.start_run("inner", parent=outer)
    first, second = (inner, outer) if inner_first else (outer, inner)
    first.finish()
    assert signal.getsignal(signal.SIGTERM) is exits._on_sigterm
    second.finish()
    assert signal.getsignal(signal.SIGTERM) is user_handler
    with ft.start_run():
        assert signal.getsignal(signal.SIGTERM) is exits._on_sigterm
    assert signal.getsignal(signal.SIGTERM) is user_handler


def test_an_ignored_sigterm_stays_ignored(root: Path, sigterm: None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with ft.start_run():
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


def test_a_handler_the_user_installed_during_the_run_is_kept(root: Path, sigterm: None) -> None:
    with ft.start_run():
        signal.signal(signal.SIGTERM, user_handler)
    assert signal.getsignal(signal.SIGTERM) is user_handler


@pytest.mark.slow
def test_after_the_run_sigterm_reaches_the_users_handler(root: Path) -> None:
    done = run_script(
        """
        import os, signal, sys
        import ferrotrack.core as ft
        def mine(signum, frame):
            print("mine", signum, flush=True)
        signal.signal(signal.SIGTERM, mine)
        with ft.start_run("first"):
            pass
        os.kill(os.getpid(), signal.SIGTERM)
        print("alive", flush=True)
        """,
        root,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mine", str(int(signal.SIGTERM)), "alive"]


@pytest.mark.slow
def test_sigterm_during_a_run_marks_it_killed_then_calls_the_users_handler(root: Path) -> None:
    done = run_script(
        """
        import os, signal
        import ferrotrack.core as ft
        def mine(signum, frame):
            print("mine", flush=True)
        signal.signal(signal.SIGTERM, mine)
        run = ft.start_run("victim")
        os.kill(os.getpid(), signal.SIGTERM)
        print(run.status, flush=True)
        assert signal.getsignal(signal.SIGTERM) is mine
        """,
        root,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["mine", "killed"]
    meta = only_run(root)
    assert (meta["status"], meta["signal"]) == ("killed", "SIGTERM")


def test_an_error_recorded_before_the_run_started_is_not_its_cause(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "last_value", RuntimeError("old"), raising=False)
    monkeypatch.delattr(sys, "last_exc", raising=False)
    with ft.start_run():
        assert exits.exit_exception() is None
        fresh = RuntimeError("new")
        monkeypatch.setattr(sys, "last_value", fresh)
        assert exits.exit_exception() is fresh
