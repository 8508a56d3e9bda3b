"""Ending a ray sweep from outside (Ctrl-C, cancel_all) leaves nothing running; each run
is recorded killed or failed. Each test runs the sweep in a child process of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_fixtures import RAY_OPTIONS, check_sweep_ended

pytestmark = pytest.mark.slow


def test_ctrl_c_during_run_many_leaves_nothing_running(root: Path, tmp_path: Path) -> None:
    check_sweep_ended("ray", RAY_OPTIONS, tmp_path, "sigint")


def test_cancel_all_during_run_many_leaves_nothing_running(root: Path, tmp_path: Path) -> None:
    check_sweep_ended("ray", RAY_OPTIONS, tmp_path, "cancel_all")
