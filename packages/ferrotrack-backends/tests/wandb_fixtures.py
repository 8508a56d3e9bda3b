"""What the W&B tests share: wandb confined to the test's folder, wandb's own reader of
its files, and the check that no wandb-core process is left behind."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

__all__ = ["confine_wandb", "inspect", "wait_no_wandb_core"]


def wandb_children() -> list[psutil.Process]:
    """The wandb-core processes this test process started (and has not reaped)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "wandb-core" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            continue
    return found


def confine_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wandb_dir: Path) -> None:
    """wandb offline and silent, its home, config, cache and data under ``tmp_path``, its
    runs under ``wandb_dir``, and no key, server, entity or project from outside."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(home / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(home / ".local" / "wandb"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)


def wait_no_wandb_core(why: str) -> None:
    """Fails with ``why`` unless every wandb-core process has ended within 15 s."""
    deadline = time.monotonic() + 15
    while wandb_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not wandb_children(), why


def inspect(file: Path) -> list[dict[str, Any]]:
    """The records of ``file`` as wandb's own reader prints them: the command
    ``wandb leet inspect --json FILE`` runs (wandb-core's reader), called directly."""
    from wandb.util import get_core_path

    command = ["leet", "inspect", "--json", "--no-observability", "--run-file", str(file)]
    out = subprocess.run(
        [get_core_path(), *command, str(file.parent.parent)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
