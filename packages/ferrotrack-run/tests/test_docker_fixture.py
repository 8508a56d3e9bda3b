"""The ``docker_engine`` fixture fails (never skips) with what to do when no daemon answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

USES_THE_FIXTURE = """
from docker_engine import docker_engine

__all__ = ["docker_engine"]


def test_needs_docker(docker_engine):
    pass
"""


@pytest.mark.slow
def test_no_daemon_is_a_failure_that_says_what_to_run(tmp_path: Path) -> None:
    (tmp_path / "test_needs_docker.py").write_text(USES_THE_FIXTURE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rA",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "FERROTRACK_TEST_DOCKER_HOST": "unix:///nonexistent/docker.sock",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 error" in out
    assert "skipped" not in out
    assert "no Docker engine: FERROTRACK_TEST_DOCKER_HOST=unix:///nonexistent/docker.sock" in out
    assert "no daemon answers there" in out
