"""Seed 000, "Advanced: Custom Tracker Factory": ``CloudTrackerFactory`` wraps the default
tracker factory and gives the trackers whose ``env.yaml`` entry has a ``cloud_bucket`` that
bucket.

``configs/cloud/env.yaml`` names two trackers: ``jsonl``, a ferrotrack backend (each run of
the experiment is mirrored to ``mirror.jsonl`` in its folder), and ``CloudTracker``, the user
``Tracker`` below, which the factory sends to a bucket. The bucket is a stand-in: a local
folder (``cloud-bucket/`` in the current folder) where a real tracker would upload.

Run: ``python examples/experiment/factories/tracker_factory.py``.
"""

# fmt: off
# ruff: noqa: I001
# mypy: disable-error-code="attr-defined, import-not-found"
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import demo_pipeline  # context: registers FactoryDemoPipeline, the pipeline the config names
from ferrotrack.experiment import METRIC_NAMES, Experiment, FactoryRegistry, FactoryType
from ferrotrack.experiment import Level, Metric, YAMLSerializable

from omegaconf import DictConfig
from ferrotrack.experiment import TrackerFactory
from ferrotrack.experiment import Tracker

class CloudTrackerFactory(TrackerFactory):
    """Factory for creating cloud-based trackers."""

    @staticmethod
    def create(name: str, config: DictConfig, workspace: str) -> Tracker:
        # Standard creation
        tracker = TrackerFactory.create(name, config, workspace)

        # Add cloud-specific configuration
        if hasattr(config, 'cloud_bucket'):
            tracker.cloud_bucket = config.cloud_bucket
            tracker.enable_cloud_sync = True

        return tracker

# Usage:
registry = FactoryRegistry()
registry.register(FactoryType.TRACKER, CloudTrackerFactory())


# Context: the user tracker the config names, and the experiment that uses the registry.
@YAMLSerializable.register("CloudTracker")
class CloudTracker(Tracker):
    """Keeps every tracked value and, when its level ends, writes them as JSON lines to
    ``<cloud_bucket>/<experiment level>.jsonl`` if the factory enabled the sync."""

    cloud_bucket: str | None = None
    enable_cloud_sync: bool = False

    def __init__(self, workspace: str | Path | None = None) -> None:
        super().__init__(workspace)
        self.rows: list[dict[str, Any]] = []
        self.levels: list[str] = []

    def track(self, metric: Metric | str, value: Any, step: int | None = None,
              *args: Any, **kwargs: Any) -> None:
        if metric is Metric.CUSTOM:  # (name, value) or a list of such pairs
            pairs = [value] if isinstance(value, tuple) else list(value)
        else:
            pairs = [(metric, value)]
        for key, number in pairs:
            name = METRIC_NAMES.get(key, str(key)) if isinstance(key, Metric) else str(key)
            self.rows.append({"name": name, "step": step, "value": float(number)})

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.rows.append({"params": sorted(params)})

    def on_start(self, level: Level, *args: Any, **kwargs: Any) -> None:
        self.levels.append(level.label)

    def save(self) -> None:
        if not (self.enable_cloud_sync and self.cloud_bucket):
            return
        bucket = Path(self.cloud_bucket)
        bucket.mkdir(parents=True, exist_ok=True)
        with (bucket / "metrics.jsonl").open("a") as out:
            for row in self.rows:
                out.write(json.dumps(row) + "\n")
        self.rows.clear()


print(f"pipelines registered: {demo_pipeline.__all__}")
experiment = Experiment.create(
    str(Path(__file__).parent / "configs" / "cloud"), factory_registry=registry
)
experiment.run()
uploaded = Path("cloud-bucket") / "metrics.jsonl"
lines = uploaded.read_text().splitlines() if uploaded.exists() else []
print(f"lines in the bucket: {len(lines)}")
