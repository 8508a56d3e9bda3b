"""A forked child (a DataLoader worker, a multiprocessing fork) leaves the parent's runs alone.

The scenario runs in a fresh interpreter: the child must leave through the normal exit
(``sys.exit``, exit hooks included), which inside pytest would unwind pytest itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCENARIO = r"""
import importlib, json, os, sys, threading
import ferrotrack.core as ft

metric_info = importlib.import_module("ferrotrack.core.plugins.metric_info")
out = {}
with ft.start_run("parent", root=sys.argv[1]) as run:
    run.log("loss", 1.0, step=0)
    held, release = threading.Event(), threading.Event()

    def hold_metric_info_lock():
        with metric_info._lock:  # another thread holds it at the fork
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_metric_info_lock)
    holder.start()
    held.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        free = metric_info._lock.acquire(timeout=5)
        os.write(write, json.dumps({"active": ft.active_run() is not None,
                                    "lock_free": free}).encode())
        os.close(write)
        sys.exit(0)  # exit hooks run here: they must not finish the parent's run
    os.close(write)
    with os.fdopen(read) as pipe:
        out["child"] = json.loads(pipe.read())
    out["child_exit"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    release.set()
    holder.join()
    out["status_after_child"] = json.loads((run.run_dir / "run.json").read_text())["status"]
    out["still_active"] = ft.active_run() is run
    run.log("loss", 0.5, step=1)
out["status"] = json.loads((run.run_dir / "run.json").read_text())["status"]
out["values"] = ft.metrics(root=sys.argv[1]).collect()["value"].to_list()
print(json.dumps(out))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX-only")
def test_a_forked_child_sees_no_active_run_and_never_finishes_the_parents(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCENARIO, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["child"] == {"active": False, "lock_free": True}
    assert out["child_exit"] == 0
    assert out["status_after_child"] == "running"  # the child's exit did not finish it
    assert out["still_active"] is True
    assert out["status"] == "finished"
    assert out["values"] == [1.0, 0.5]
