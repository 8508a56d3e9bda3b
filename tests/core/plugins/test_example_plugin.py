"""A package ferrotrack has never seen, found by entry points and used end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ferrotrack.core.delivery.orchestrator import Orchestrator, OrchestratorOptions, Route
from ferrotrack.core.plugins import (
    BackendPlugin,
    CollectorPlugin,
    MetricData,
    PluginManager,
    PluginType,
    ProcessorPlugin,
)
from ferrotrack.core.plugins.arrow import metrics_to_batch


def test_example_distribution_is_discovered() -> None:
    pm = PluginManager()
    for name, kind in [
        ("example_jsonl", PluginType.BACKEND),
        ("example_counter", PluginType.COLLECTOR),
        ("example_scale", PluginType.PROCESSOR),
    ]:
        info = pm.info(name, kind)
        assert info.available
        assert info.package == "ferrotrack-example-plugin"
        assert info.version == "0.3.1"


def test_example_backend_collector_and_processor_work_together(
    tmp_path: Path, waiter: Callable[..., bool]
) -> None:
    out = tmp_path / "points.jsonl"
    collected: list[MetricData] = []
    with PluginManager() as pm:
        backend = pm.create("example_jsonl", PluginType.BACKEND, {"path": out})
        scale = pm.create("example_scale", PluginType.PROCESSOR, {"factor": 10})
        counter = pm.create("example_counter", PluginType.COLLECTOR, {"interval": 0.005})
        assert isinstance(backend, BackendPlugin)
        assert isinstance(scale, ProcessorPlugin)
        assert isinstance(counter, CollectorPlugin)
        counter.bind(collected.extend)
        pm.start_all()
        assert waiter(lambda: len(collected) >= 3)
    snapshot = list(collected)
    orch = Orchestrator(
        [Route(backend, processors=[scale])],
        run_dir=tmp_path,
        options=OrchestratorOptions(drain_timeout=10),
    )
    with orch:
        orch.submit(0, 0, metrics_to_batch(snapshot))
    lines: list[dict[str, Any]] = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["value"] for x in lines] == [m.value * 10 for m in snapshot]
    assert [x["name"] for x in lines] == ["example/count"] * len(snapshot)
