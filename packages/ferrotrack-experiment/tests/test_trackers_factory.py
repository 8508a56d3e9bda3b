"""TrackerFactory: registered Tracker classes by name, ferrotrack backends by name, a clear
error for anything else; and seed 000's CloudTrackerFactory, unchanged but for imports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from ferrotrack.experiment import (
    FactoryRegistry,
    FactoryType,
    Tracker,
    TrackerFactory,
    UnknownNameError,
    YAMLSerializable,
)
from ferrotrack.experiment.trackers.backend_tracker import BackendTracker


@YAMLSerializable.register("FileCountTracker")
class FileCountTracker(Tracker):
    """A user tracker whose from_config reads a field."""

    def __init__(self, workspace: str | Path | None = None, every: int = 1) -> None:
        super().__init__(workspace)
        self.every = every

    @classmethod
    def from_config(cls, config: DictConfig, workspace: str | Path | None = None) -> Tracker:
        return cls(workspace, every=int(config.get("every", 1)))


@YAMLSerializable.register("NotATracker")
class NotATracker:
    pass


def test_a_registered_tracker_class_is_built_by_its_from_config(tmp_path: Path) -> None:
    tracker = TrackerFactory.create(
        "FileCountTracker", {"type": "FileCountTracker", "every": 5}, tmp_path
    )
    assert isinstance(tracker, FileCountTracker)
    assert (tracker.every, tracker.workspace) == (5, tmp_path)


def test_the_default_from_config_passes_the_workspace(tmp_path: Path) -> None:
    @YAMLSerializable.register("PlainTracker")
    class PlainTracker(Tracker):
        pass

    tracker = TrackerFactory.create("PlainTracker", None, str(tmp_path))
    assert isinstance(tracker, PlainTracker)
    assert tracker.workspace == tmp_path


def test_a_backend_name_becomes_a_backend_tracker_without_its_type(tmp_path: Path) -> None:
    tracker = TrackerFactory.create(
        "jsonl", OmegaConf.create({"type": "jsonl", "fsync": True}), tmp_path
    )
    assert isinstance(tracker, BackendTracker)
    assert (tracker.name, tracker.config, tracker.workspace) == ("jsonl", {"fsync": True}, tmp_path)


def test_an_unknown_name_lists_tracker_classes_and_backends() -> None:
    with pytest.raises(UnknownNameError) as caught:
        TrackerFactory.create("NotATracker", {}, None)
    message = str(caught.value)
    assert message.startswith("unknown tracker 'NotATracker'; registered trackers: ")
    assert "FileCountTracker" in caught.value.known
    assert {"jsonl", "tensorboard"} <= set(caught.value.known)
    assert "NotATracker" not in caught.value.known


def test_the_registry_gives_the_default_tracker_factory() -> None:
    factory = FactoryRegistry().get(FactoryType.TRACKER)
    assert isinstance(factory, TrackerFactory)
    assert isinstance(factory.create("jsonl", {}, None), BackendTracker)


# --- seed 000, "Advanced: Custom Tracker Factory" (imports changed only) ------------------


def guide_tracker_factory() -> Any:
    class CloudTrackerFactory(TrackerFactory):
        """Factory for creating cloud-based trackers."""

        @staticmethod
        def create(name: str, config: DictConfig, workspace: str) -> Tracker:
            # Standard creation
            tracker = TrackerFactory.create(name, config, workspace)

            # Add cloud-specific configuration
            if hasattr(config, "cloud_bucket"):
                tracker.cloud_bucket = config.cloud_bucket  # type: ignore[attr-defined]
                tracker.enable_cloud_sync = True  # type: ignore[attr-defined]

            return tracker

    return CloudTrackerFactory


def test_the_guides_cloud_tracker_factory(tmp_path: Path) -> None:
    cloud_tracker_factory = guide_tracker_factory()
    # Usage:
    registry = FactoryRegistry()
    registry.register(FactoryType.TRACKER, cloud_tracker_factory())

    factory = registry.get(FactoryType.TRACKER)
    config = OmegaConf.create({"type": "FileCountTracker", "cloud_bucket": "s3://runs"})
    tracker = factory.create("FileCountTracker", config, str(tmp_path))
    assert isinstance(tracker, FileCountTracker)
    assert tracker.cloud_bucket == "s3://runs"  # type: ignore[attr-defined]
    assert tracker.enable_cloud_sync is True  # type: ignore[attr-defined]
    plain = factory.create("FileCountTracker", OmegaConf.create({}), str(tmp_path))
    assert not hasattr(plain, "cloud_bucket")
    with pytest.raises(TypeError, match="factory must be an instance of Factory"):
        registry.register(FactoryType.TRACKER, cloud_tracker_factory)
