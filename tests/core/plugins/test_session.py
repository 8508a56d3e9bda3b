"""A run's plugins end to end: settings-configured backend, collector into the store, drain."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.delivery.session import PluginSession
from ferrotrack.core.errors import MissingDependencyError
from ferrotrack.core.plugins import (
    BackendPlugin,
    CollectorPlugin,
    MetricData,
    MetricType,
    PluginManager,
    PluginMetadata,
    PluginType,
)
from ferrotrack.core.plugins.arrow import metrics_to_batch
from ferrotrack.core.settings import FerrotrackSettings, RouteRule


class WriterSink:
    """The part of a run collectors talk to, over a real writer."""

    def __init__(self, writer: MetricWriter) -> None:
        self.writer = writer
        self.params: dict[str, Any] = {}

    def log(
        self, name: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        self.writer.log(name, value, step=step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_artifact(self, path: Path | str, name: str | None = None) -> None:
        pass


class Facts(CollectorPlugin):
    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="facts", type=PluginType.COLLECTOR)

    def collect(self) -> list[MetricData]:
        return [
            MetricData("seed", 7, MetricType.PARAMETER),
            MetricData("sys/mem", 0.25, MetricType.SYSTEM, step=0),
        ]


def test_session_routes_logged_and_collected_points_to_a_configured_backend(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    out = tmp_path / "mirror.jsonl"
    settings = FerrotrackSettings(
        backends=["example_jsonl"],
        backend_configs={"example_jsonl": {"path": str(out), "token": "abcd-secret"}},
        routing={"example_jsonl": RouteRule(exclude=["debug/*"])},
    )
    writer = MetricWriter(run, background=False)
    sink = WriterSink(writer)
    session = PluginSession.open(run, sink=sink, collectors=[Facts()], settings=settings)
    assert sink.params == {"seed": 7}  # static fact became a param
    rows = 0
    for step in range(5):
        points = [("train/loss", step, 1.0 / (step + 1)), ("debug/x", step, 0.0)]
        for name, s, v in points:
            writer.log(name, v, step=s)
        writer.flush()
        session.submit(
            0,
            rows + 1,
            metrics_to_batch(  # +1: the collector's point came first
                [MetricData(n, v, step=s) for n, s, v in points]
            ),
        )
        rows += len(points)
    session.stop_sources()
    writer.close()
    session.close("finished")
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    names = [x["name"] for x in lines if "name" in x]
    assert names == ["sys/mem"] + ["train/loss"] * 5  # the first point came from the store
    assert lines[-1] == {"status": "finished"}
    assert session.status()["backends"]["example_jsonl"]["cursor"] == {0: 11}
    for saved in (run / "sync" / "example_jsonl").glob("*.json"):
        assert "abcd-secret" not in saved.read_text()


class _NeedsSdk(BackendPlugin):
    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(
            name="needs_sdk", type=PluginType.BACKEND, dependencies=["ferrotrack_no_sdk_here"]
        )

    def handle_metric(self, metric: MetricData) -> None:
        pass


def test_session_refuses_a_backend_with_missing_dependencies_before_starting_anything(
    tmp_path: Path,
) -> None:
    manager = PluginManager()
    manager.register_plugin(_NeedsSdk)
    facts = Facts()
    with (
        MetricWriter(tmp_path / "r") as writer,
        pytest.raises(MissingDependencyError, match="pip install ferrotrack_no_sdk_here"),
    ):
        PluginSession.open(
            tmp_path,
            sink=WriterSink(writer),
            backends=["needs_sdk"],
            collectors=[facts],
            manager=manager,
            settings=FerrotrackSettings(),
        )
    assert facts.state == "created"
