"""Reading an offline ClearML session back: what ``Task.import_offline_session`` uploads.

A session folder holds ``task.json`` (the task: name, project, tags, hyperparameters) and
``metrics.jsonl`` (one JSON array of events a line, written by ClearML's reporter); the zip
ClearML writes beside it when the task closes holds the same files.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["OfflineSession", "Scalar", "read_session"]


@dataclass(frozen=True)
class Scalar:
    """One scalar event: ClearML's title and series, its iteration and value."""

    title: str
    series: str
    iteration: int
    value: float
    timestamp_ms: int


@dataclass(frozen=True)
class OfflineSession:
    """An offline session as ClearML would upload it."""

    task: dict[str, Any]
    scalars: list[Scalar] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)

    @property
    def task_id(self) -> str:
        """The offline task id (``offline-<hex>``)."""
        return str(self.task.get("id", ""))

    @property
    def tags(self) -> list[str]:
        """The task's tags."""
        return list(self.task.get("tags") or [])

    def section(self, name: str) -> dict[str, str]:
        """The hyperparameters of section ``name`` (``General``, ``properties``…): value
        text by key, as ClearML keeps them."""
        found = (self.task.get("hyperparams") or {}).get(name) or {}
        return {key: str(item.get("value", "")) for key, item in found.items()}


def read_session(path: str | Path) -> OfflineSession:
    """The session in a folder or a zip of one."""
    path = Path(path)
    if path.is_file():
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            task = json.loads(zf.read("task.json"))
            metrics = zf.read("metrics.jsonl").decode() if "metrics.jsonl" in names else ""
            logs = zf.read("log.jsonl").decode() if "log.jsonl" in names else ""
    else:
        task = json.loads((path / "task.json").read_text())
        metrics_file, log_file = path / "metrics.jsonl", path / "log.jsonl"
        metrics = metrics_file.read_text() if metrics_file.is_file() else ""
        logs = log_file.read_text() if log_file.is_file() else ""
    scalars = [
        Scalar(
            str(ev["metric"]),
            str(ev["variant"]),
            int(ev["iter"]),
            float(ev["value"]),
            int(ev.get("timestamp", 0)),
        )
        for ev in _events(metrics)
        if ev.get("type") == "training_stats_scalar"
    ]
    messages = [str(ev.get("msg", "")) for ev in _events(logs) if ev.get("type") == "log"]
    return OfflineSession(task, scalars, messages)


def _events(text: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.strip():
            batch = json.loads(line, parse_constant=lambda c: math.nan)
            out.extend(batch if isinstance(batch, list) else [batch])
    return out
