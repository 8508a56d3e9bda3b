"""``Experiment.create(config_dir, factory_registry=...)`` as seed 000 uses it: the user's
pipeline and tracker factories are the ones used, and a user ``Tracker`` named in
``env.yaml`` sees every level and the trial runs' params."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from experiment_fixtures import write_experiment_config
from omegaconf import DictConfig

from ferrotrack.core.store.catalog import list_runs
from ferrotrack.experiment import (
    Environment,
    Experiment,
    FactoryRegistry,
    FactoryType,
    Level,
    Metric,
    Pipeline,
    PipelineFactory,
    Tracker,
    TrackerFactory,
    YAMLSerializable,
)

CREATED: list[tuple[str, Any]] = []
SEEN: list[tuple[str, Any]] = []


@YAMLSerializable.register("FactoriesTinyPipeline")
class FactoriesTinyPipeline(Pipeline):
    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        self.env.tracker_manager.track(Metric.TRAIN_LOSS, 0.1 * config.repeat, 0)


class ResilientPipelineFactory(PipelineFactory):
    """Seed 000's factory shape: a staticmethod that adds to what PipelineFactory builds."""

    @staticmethod
    def create(name: str, config: DictConfig, env: Environment, id: int | None = None) -> Pipeline:
        pipeline = PipelineFactory.create(name, config, env, id)
        pipeline.max_retries = config.pipeline.get("max_retries", 3)  # type: ignore[attr-defined]
        CREATED.append((name, pipeline))
        return pipeline


@YAMLSerializable.register("RecordingTracker")
class RecordingTracker(Tracker):
    def on_start(self, level: Level, *args: Any, **kwargs: Any) -> None:
        SEEN.append(("start", level))

    def log_params(self, params: Mapping[str, Any]) -> None:
        SEEN.append(("params", dict(params)))

    def track(self, metric: Metric | str, value: Any, step: int | None = None, *a: Any) -> None:
        SEEN.append(("track", (metric, value)))


class CloudTrackerFactory(TrackerFactory):
    @staticmethod
    def create(name: str, config: DictConfig, workspace: str | Path | None) -> Tracker:
        tracker = TrackerFactory.create(name, config, workspace)
        if hasattr(config, "cloud_bucket"):
            tracker.cloud_bucket = config.cloud_bucket  # type: ignore[attr-defined]
        return tracker


def test_registered_factories_build_the_pipelines_and_trackers(root: Path, tmp_path: Path) -> None:
    CREATED.clear()
    SEEN.clear()
    config = write_experiment_config(
        tmp_path / "cfg",
        [{"name": "t", "repeat": 2}],
        {
            "name": "factories",
            "settings": {"pipeline": {"type": "FactoriesTinyPipeline", "max_retries": 5}},
        },
        env={"trackers": [{"type": "RecordingTracker", "cloud_bucket": "s3://b"}]},
    )
    registry = FactoryRegistry()
    registry.register(FactoryType.PIPELINE, ResilientPipelineFactory())
    registry.register(FactoryType.TRACKER, CloudTrackerFactory())

    experiment = Experiment.create(str(config), factory_registry=registry)
    [tracker] = experiment.trackers
    assert isinstance(tracker, RecordingTracker)
    assert tracker.cloud_bucket == "s3://b"  # type: ignore[attr-defined]
    outcome = experiment.run(progress=False)

    assert outcome.ok
    assert [name for name, _ in CREATED] == ["FactoriesTinyPipeline"] * 2
    assert all(p.max_retries == 5 for _, p in CREATED)
    starts = [value for kind, value in SEEN if kind == "start"]
    assert starts[:2] == [Level.EXPERIMENT, Level.TRIAL]
    assert starts.count(Level.TRIAL_RUN) == 2
    assert starts.count(Level.PIPELINE) == 2
    params = [value for kind, value in SEEN if kind == "params"]
    assert [(p["repeat"], p["pipeline"]["max_retries"]) for p in params] == [(0, 5), (1, 5)]
    assert ("track", (Metric.TRAIN_LOSS, 0.1)) in SEEN
    assert len([r for r in list_runs(root) if r.status == "finished"]) == 4
