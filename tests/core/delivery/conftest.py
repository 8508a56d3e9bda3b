"""Delivery test doubles: a backend that journals every call in order and checks the
contract's order as it goes; helpers that write real runs with the native writer."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.delivery.orchestrator import OrchestratorOptions
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType
from ferrotrack.core.records import RunEvent, RunInfo
from ferrotrack.core.store.jsonfile import write_json_atomic

FINAL = frozenset({"finished", "failed", "killed", "crashed"})

FAST = OrchestratorOptions(
    backoff_initial=0.001, backoff_max=0.01, drain_timeout=30.0, catch_up_retry=0.01
)


class Journal(BackendPlugin):
    """Keeps every call in order; ``violations`` lists breaches of the contract's order
    (a point after the final status, anything before ``open_run``, ...)."""

    label = "journal"
    delay = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []
        self.points: list[tuple[int, str, int]] = []
        self.violations: list[str] = []
        self.opened: list[RunInfo] = []
        self.state_seen: list[dict[str, Any]] = []
        self.final = False
        self.lock = threading.Lock()

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name=cls.label, type=PluginType.BACKEND)

    def _note(self, *call: Any) -> None:
        with self.lock:
            if not self.calls and call[0] != "open_run":
                self.violations.append(f"{call[0]} before open_run")
            if self.final and call[0] not in ("flush",):
                self.violations.append(f"{call[0]} after the final status")
            self.calls.append(call)

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        self.opened.append(info)
        self.state_seen.append(dict(state))
        self._note("open_run", info.run_id)

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        if self.delay:
            time.sleep(self.delay)
        names = batch.column("name").to_pylist()
        steps = batch.column("step").to_pylist()
        self._note("points", rank, len(names))
        with self.lock:
            self.points += [(rank, n, s) for n, s in zip(names, steps, strict=True)]

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._note("log_params", dict(params))

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        self._note("set_tags", dict(tags))

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        self._note("log_artifact", name or path.name)

    def log_event(self, event: RunEvent) -> None:
        self._note("log_event", event.kind, event.rank, event.rows)

    def set_status(self, status: str) -> None:
        self._note("set_status", status)
        if status in FINAL:
            self.final = True

    def flush(self) -> None:
        self._note("flush")

    def kinds(self) -> list[str]:
        """The call names, consecutive ``points`` calls folded into one."""
        out: list[str] = []
        for call in self.calls:
            if not (out and out[-1] == call[0] == "points"):
                out.append(call[0])
        return out

    def rows_before(self, index: int, rank: int = 0) -> int:
        """Points of ``rank`` received before call ``index``."""
        return sum(c[2] for c in self.calls[:index] if c[0] == "points" and c[1] == rank)


class SlowJournal(Journal):
    label = "slow_journal"
    delay = 0.01


def write_points(
    run_dir: Path, points: Sequence[tuple[str, int, float]], *, rank: int = 0, every: int = 0
) -> None:
    """Writes ``(name, step, value)`` points into a real run with the native writer,
    flushing every ``every`` points (one segment per flush)."""
    writer = MetricWriter(run_dir, rank=rank, background=False)
    for i, (name, step, value) in enumerate(points, 1):
        writer.log(name, value, step=step)
        if every and i % every == 0:
            writer.flush()
    writer.close()


def write_meta(run_dir: Path, **fields: Any) -> None:
    """A ``run.json`` as rank 0 writes it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "run_id": run_dir.name.removeprefix("run="),
        "experiment": "exp",
        "name": "r",
        "status": "running",
        "started": 1,
        "tags": {},
        **fields,
    }
    write_json_atomic(run_dir / "run.json", meta)
