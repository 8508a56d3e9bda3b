"""A package ferrotrack has never seen, found by entry points and used end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

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
    records = [json.loads(x) for x in out.read_text().splitlines()]
    lines: list[dict[str, Any]] = [x for x in records if "value" in x]
    assert [x["value"] for x in lines] == [m.value * 10 for m in snapshot]
    assert [x["name"] for x in lines] == ["example/count"] * len(snapshot)


def test_example_backend_by_name_gets_the_whole_contract_and_its_state_back(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Named in ``start_run`` and configured from settings, the example backend (found by
    its entry point) opens with the run's identity, gets points, events and params in the
    order they happened and the final status last; a resumed run gives its state back."""
    import ferrotrack.core as ft

    out = root.parent / "contract.jsonl"
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__EXAMPLE_JSONL__PATH", str(out))
    with ft.start_run("c", params={"lr": 0.1}, backends=["example_jsonl"]) as run:
        run.log("loss", 1.0, step=0)
        run.log_event("checkpoint", name="ckpt-1")
        run.log("loss", 0.5, step=1)
        run.log_params({"seed": 3})
    with ft.start_run(run_id=run.run_id, resume=True, backends=["example_jsonl"]) as again:
        again.log("loss", 0.25, step=2)
    lines: list[dict[str, Any]] = [json.loads(x) for x in out.read_text().splitlines()]
    first, second = (
        lines[: lines.index({"status": "finished"}) + 1],
        lines[lines.index({"status": "finished"}) + 1 :],
    )
    assert first[0] == {"open": run.run_id, "opens": 1, "run_params": {"lr": 0.1}}
    assert first[1:] == [
        {"status": "running"},
        {"name": "loss", "step": 0, "value": 1.0},
        {"event": "checkpoint", "event_name": "ckpt-1", "rows": 1},
        {"name": "loss", "step": 1, "value": 0.5},
        {"params": {"seed": 3}},
        {"status": "finished"},
    ]
    assert second[0]["opens"] == 2, "the state saved beside the cursor came back"
    assert second[-1] == {"status": "finished"}
    assert {"name": "loss", "step": 2, "value": 0.25} in second
    assert {"name": "loss", "step": 0, "value": 1.0} not in second, "nothing twice"
