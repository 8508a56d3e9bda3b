"""Collector points keep what they are (type, source, metadata in ``metrics.json``), and a
collector that raises or returns bad values is reported once and goes on sampling."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import ferrotrack.core as ft
from ferrotrack.core.plugins import (
    CollectorPlugin,
    MetricData,
    MetricType,
    PluginMetadata,
    PluginType,
    dispatch_metrics,
)
from ferrotrack.core.plugins.metric_info import METRIC_INFO_FILE, metric_info, record_metric_info


class Flaky(CollectorPlugin):
    """Returns ``script[i]`` on sample ``i`` (the last one after the end); raises an
    exception given in the script."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = script
        self.calls = 0

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="flaky", type=PluginType.COLLECTOR)

    def collect(self) -> list[MetricData]:
        item = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(item, Exception):
            raise item
        result: list[MetricData] = item
        return result


def good(value: float) -> MetricData:
    return MetricData("sys/cpu", value, MetricType.SYSTEM, source="system", metadata={"unit": "%"})


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_raising_collector_is_reported_once_and_keeps_sampling(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[list[MetricData]] = []
    collector = Flaky([OSError("sensor gone")] * 5 + [[good(1.0)]])
    collector.bind(got.append)
    with caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"):
        for _ in range(7):
            collector.sample()
    assert len(warnings_of(caplog)) == 1
    assert "raised OSError: sensor gone" in warnings_of(caplog)[0]
    assert collector.errors == 5
    assert [m.value for batch in got for m in batch] == [1.0, 1.0]


def test_bad_items_never_reach_the_sink_and_never_stop_the_good_ones(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[list[MetricData]] = []
    sample: Any = [
        good(1.0),
        MetricData("gpu/util", "n/a", MetricType.SYSTEM),
        MetricData("flag", True, MetricType.SCALAR),
        "not a metric",
        MetricData("host", "node1", MetricType.TEXT),  # a string is fine for TEXT
    ]
    collector = Flaky([sample])
    collector.bind(got.append)
    with caplog.at_level(logging.WARNING, logger="ferrotrack.collectors"):
        for _ in range(4):
            collector.sample()
    assert [[m.name for m in batch] for batch in got] == [["sys/cpu", "host"]] * 4
    messages = warnings_of(caplog)
    assert len(messages) == 3  # one per kind of problem, not per sample
    assert any("'gpu/util' (system) has a str value, expected a number" in m for m in messages)
    assert any("a str item, expected MetricData" in m for m in messages)
    assert collector.errors == 12


def test_a_result_that_is_not_a_list_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    collector = Flaky([7])
    collector.bind(lambda metrics: pytest.fail("nothing should be sent"))
    with caplog.at_level(logging.WARNING, logger="ferrotrack.collectors"):
        collector.sample()
        collector.sample()
    assert len(warnings_of(caplog)) == 1
    assert "returned int, expected a list of MetricData" in warnings_of(caplog)[0]


def test_sampling_thread_goes_on_after_failures(caplog: pytest.LogCaptureFixture) -> None:
    collector = Flaky([RuntimeError("boom"), RuntimeError("boom"), [good(2.0)]])
    collector.interval = 0.001
    seen = threading.Event()
    collector.bind(lambda metrics: seen.set())
    with caplog.at_level(logging.WARNING, logger="ferrotrack.collectors"):
        collector.start()
        try:
            assert seen.wait(10.0)
        finally:
            collector.stop()
    assert len(warnings_of(caplog)) == 1


def test_collected_points_keep_type_source_and_metadata(root: Path) -> None:
    with ft.start_run("sys") as run:
        problems = dispatch_metrics(
            run,
            [
                good(10.0),
                MetricData("gpu/mem", 0.5, MetricType.SYSTEM, source="gpu", metadata={"i": 0}),
                MetricData("bad", "x", MetricType.SYSTEM),
            ],
        )
        stat = (run.run_dir / METRIC_INFO_FILE).stat()
        dispatch_metrics(run, [good(11.0)])  # a known name: the file is not rewritten
        assert (run.run_dir / METRIC_INFO_FILE).stat().st_ino == stat.st_ino
    assert [key for key, _ in problems] == ["value:bad"]
    assert metric_info(run.run_dir) == {
        "sys/cpu": {"type": "system", "source": "system", "metadata": {"unit": "%"}},
        "gpu/mem": {"type": "system", "source": "gpu", "metadata": {"i": 0}},
    }
    frame = ft.metrics(runs=[run.run_id]).collect()
    assert sorted(frame["name"].cast(str).to_list()) == ["gpu/mem", "sys/cpu", "sys/cpu"]


def test_a_run_without_plugin_points_has_no_metric_info(root: Path) -> None:
    with ft.start_run("plain") as run:
        run.log("loss", 1.0, step=0)
    assert metric_info(run.run_dir) == {}
    assert not (run.run_dir / METRIC_INFO_FILE).exists()


@pytest.mark.slow
def test_processes_merge_their_metric_info(tmp_path: Path) -> None:
    """Two processes record different names into one run at the same time: none is lost."""
    code = (
        "import sys\n"
        "from ferrotrack.core.plugins.metric_info import record_metric_info\n"
        "for i in range(40):\n"
        "    record_metric_info(sys.argv[1], {f'{sys.argv[2]}/{i}': {'type': 'system'}})\n"
    )
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path), tag]) for tag in ("a", "b")
    ]
    for i in range(40):
        record_metric_info(tmp_path, {f"c/{i}": {"type": "system"}})
    assert [c.wait(60) for c in children] == [0, 0]
    info = metric_info(tmp_path)
    assert len(info) == 120
    json.loads((tmp_path / METRIC_INFO_FILE).read_text())  # whole, valid JSON
