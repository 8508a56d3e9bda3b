"""Test doubles for plugin tests: recording, slow and failing backends; real runs on disk."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.plugins import BackendPlugin, MetricData, PluginMetadata, PluginType, discovery


class RecordingBackend(BackendPlugin):
    """Keeps every point it receives, with an optional delay or failure per batch."""

    delay = 0.0
    fail = False

    def __init__(self) -> None:
        super().__init__()
        self.points: list[tuple[str, int, float]] = []
        self.params: list[dict[str, Any]] = []
        self.statuses: list[str] = []
        self.batches = 0
        self.calls = 0
        self.lock = threading.Lock()

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="recording", type=PluginType.BACKEND)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise ConnectionError("backend down")
        super().handle_batch(batch)
        self.batches += 1

    def handle_metric(self, metric: MetricData) -> None:
        with self.lock:
            self.points.append((metric.name, int(metric.step or 0), float(metric.value)))

    def log_params(self, params: Any) -> None:
        if self.fail:
            raise ConnectionError("backend down")
        self.params.append(dict(params))

    def set_status(self, status: str) -> None:
        if self.fail:
            raise ConnectionError("backend down")
        self.statuses.append(status)


class SlowBackend(RecordingBackend):
    delay = 0.05

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="slow", type=PluginType.BACKEND)


class FailingBackend(RecordingBackend):
    fail = True

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="failing", type=PluginType.BACKEND)


@dataclass
class Doubles:
    Recording: type[RecordingBackend]
    Slow: type[SlowBackend]
    Failing: type[FailingBackend]


@pytest.fixture
def doubles() -> Doubles:
    return Doubles(RecordingBackend, SlowBackend, FailingBackend)


Point = tuple[str, int, float]


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """Writes ``points`` into a real run with the native writer, flushing every ``every``."""
    counter = iter(range(10_000))

    def make(
        points: Sequence[Point], *, every: int = 0, rank: int = 0, run_dir: Path | None = None
    ) -> Path:
        folder = run_dir or tmp_path / f"run-{next(counter)}"
        writer = MetricWriter(folder, rank=rank, background=False)
        for i, (name, step, value) in enumerate(points, 1):
            writer.log(name, value, step=step)
            if every and i % every == 0:
                writer.flush()
        writer.close()
        return folder

    return make


@pytest.fixture
def fresh_discovery() -> Iterator[None]:
    """Forgets cached discovery before and after the test."""
    discovery._cache = None
    yield
    discovery._cache = None


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def waiter() -> Callable[..., bool]:
    return wait_for
