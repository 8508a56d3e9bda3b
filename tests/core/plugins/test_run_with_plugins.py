"""start_run(backends=..., collectors=...): the store's flushes reach the backends exactly once."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import ferrotrack.core as ft
from ferrotrack.core._native import read_run
from ferrotrack.core.plugins import BackendPlugin, MetricData, PluginMetadata, PluginType
from ferrotrack.core.settings import FerrotrackSettings


def jsonl_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_points_flushed_during_a_run_reach_a_named_backend_once(root: Path, tmp_path: Path) -> None:
    out = tmp_path / "mirror.jsonl"
    settings = FerrotrackSettings(backend_configs={"example_jsonl": {"path": str(out)}})
    with ft.start_run(
        "mirrored",
        params={"lr": 0.1},
        flush_interval=0.02,
        backends=["example_jsonl"],
        collectors=["example_counter"],
        settings=settings,
    ) as run:
        for i in range(20_000):
            run.log("loss", float(i))
            if i % 5000 == 0:
                run.flush()
        # The collector samples every 10 ms on its own thread: let it take a few samples.
        deadline = time.monotonic() + 10
        while run.summary().get("example/count", {"count": 0})["count"] < 3:
            assert time.monotonic() < deadline, "the collector never sampled"
            time.sleep(0.01)
    lines = jsonl_lines(out)
    points = [(d["name"], d["step"]) for d in lines if "name" in d]
    counts = Counter(points)
    assert all(c == 1 for c in counts.values()), "no point twice"
    stored = pl.DataFrame(read_run(run.run_dir)).with_columns(pl.col("name").cast(pl.String))
    assert len(points) == stored.height, "every stored point, collector's included, mirrored"
    assert stored.filter(pl.col("name") == "example/count").height > 0
    assert lines[0]["run_params"] == {"lr": 0.1}
    assert lines[-1] == {"status": "finished"}


class Exploding(BackendPlugin):
    """Raises on every batch."""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="exploding", version="1", type=PluginType.BACKEND)

    def handle_metric(self, metric: MetricData) -> None:
        raise ConnectionError("tracking server unreachable")


def test_a_failing_backend_never_breaks_the_run(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with ft.start_run(flush_interval=0.01, backends=[Exploding()]) as run:
        for i in range(10_000):
            run.log("x", float(i))
        run.flush()
    assert pl.DataFrame(read_run(run.run_dir)).height == 10_000
    assert "'exploding' is degraded" in caplog.text
    assert "ferrotrack sync" in caplog.text
    assert json.loads((run.run_dir / "run.json").read_text())["status"] == "finished"


def test_an_unknown_backend_is_refused_before_anything_is_logged(root: Path) -> None:
    with pytest.raises(ValueError, match="no-such-backend"):
        ft.start_run(backends=["no-such-backend"])
    assert ft.active_run() is None
    assert not list(root.glob("experiment=*/run=*"))


@pytest.mark.slow
def test_sigterm_stops_the_plugins_and_tells_the_backends(root: Path, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "mirror.jsonl"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, ferrotrack.core as ft\n"
            "from ferrotrack.core.settings import FerrotrackSettings\n"
            "s = FerrotrackSettings(backend_configs={'example_jsonl': {'path': sys.argv[1]}})\n"
            "run = ft.start_run(backends=['example_jsonl'], settings=s, flush_interval=30)\n"
            "for i in range(1000):\n"
            "    run.log('x', float(i))\n"
            "print('ready', flush=True)\n"
            # Short sleeps: a signal that lands between the last bytecode and a long C-level
            # sleep would wait for the sleep to end before Python runs its handler.
            "while True:\n"
            "    time.sleep(0.05)\n",
            str(out),
        ],
        env={**os.environ, "FERROTRACK_ROOT": str(root)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == -signal.SIGTERM
    lines = jsonl_lines(out)
    # The flush interval was 30 s: the points reached the backend through the final flush.
    assert sum(1 for d in lines if "name" in d) == 1000
    assert lines[-1] == {"status": "killed"}


class Journal(BackendPlugin):
    """Every call of the contract, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[object, ...]] = []
        self.rows = 0

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="journal", type=PluginType.BACKEND)

    def open_run(self, info: object, state: dict[str, object]) -> None:
        self.calls.append(("open_run", info))

    def handle_points(self, batch: object, rank: int) -> None:
        self.rows += batch.num_rows  # type: ignore[attr-defined]
        self.calls.append(("points", self.rows))

    def log_params(self, params: object) -> None:
        self.calls.append(("log_params", params, self.rows))

    def set_tags(self, tags: object) -> None:
        self.calls.append(("set_tags", tags, self.rows))

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        self.calls.append(("log_artifact", name, path.read_text(), self.rows))

    def log_event(self, event: object) -> None:
        self.calls.append(("log_event", event, self.rows))

    def set_status(self, status: str) -> None:
        self.calls.append(("set_status", status, self.rows))

    def flush(self) -> None:
        self.calls.append(("flush",))


def test_a_run_sends_its_backends_everything_in_the_order_it_happened(
    root: Path, tmp_path: Path
) -> None:
    journal = Journal()
    model = tmp_path / "model.txt"
    model.write_text("weights")
    with ft.start_run("ordered", params={"lr": 0.1}, tags={"team": "a"}, backends=[journal]) as run:
        for i in range(100):
            run.log("loss", float(i), step=i)
        run.log_params({"seed": 7})
        run.set_tags({"phase": "two"})
        run.log_artifact(model, "model")  # Run.log_artifact reaches the backends
        for i in range(100, 150):
            run.log("loss", float(i), step=i)
    kinds = [c[0] for c in journal.calls if c[0] != "points"]
    assert kinds == [
        "open_run",
        "set_status",
        "log_params",
        "set_tags",
        "log_artifact",
        "set_status",
        "flush",
    ]
    info = journal.calls[0][1]
    assert info.params == {"lr": 0.1}  # type: ignore[attr-defined]
    assert info.tags["team"] == "a"  # type: ignore[attr-defined]
    by_kind = {c[0]: c for c in journal.calls}
    assert by_kind["log_params"][1:] == ({"seed": 7}, 100)
    assert by_kind["set_tags"][1:] == ({"phase": "two"}, 100)
    assert by_kind["log_artifact"][1:] == ("model", "weights", 100)
    assert journal.calls[-2] == ("set_status", "finished", 150)  # after the last point
    assert json.loads((run.run_dir / "run.json").read_text())["status"] == "finished"


class NoStart(Journal):
    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="no_start", type=PluginType.BACKEND)

    def start(self) -> None:
        raise ConnectionError("refused")


def test_a_backend_that_failed_to_start_gets_nothing_and_the_others_go_on(root: Path) -> None:
    """Defect 10, through start_run."""
    broken, good = NoStart(), Journal()
    with pytest.warns(UserWarning, match="no_start"):
        run = ft.start_run(backends=[broken, good])
    for i in range(10):
        run.log("x", float(i))
    status = run._session.status()["backends"] if run._session else {}
    run.finish()
    assert broken.calls == []
    assert good.rows == 10
    assert status["no_start"]["state"] == "unavailable"
