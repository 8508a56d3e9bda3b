"""The plugin session: unavailable backends (defect 10), frameworks and processors bound to
the run, the feeder, statuses only from the rank that owns them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ferrotrack.core._native import MetricWriter
from ferrotrack.core.delivery.session import PluginSession
from ferrotrack.core.errors import PluginWarning
from ferrotrack.core.plugins import FrameworkPlugin, PluginMetadata, PluginType
from ferrotrack.core.records import RunInfo
from ferrotrack.core.settings import FerrotrackSettings

from .conftest import Journal, write_meta

ORDER: list[str] = []


class Sink:
    """The part of a run plugins talk to, over a real writer."""

    def __init__(self, writer: MetricWriter) -> None:
        self.writer = writer
        self.rank = writer.rank

    def log(
        self, name: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        self.writer.log(name, value, step=step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def set_tags(self, tags: Mapping[str, str]) -> None:
        pass

    def log_artifact(self, path: Path | str, name: str | None = None) -> None:
        pass


class Broken(Journal):
    label = "broken"

    def start(self) -> None:
        raise ConnectionError("no server at localhost:5000")


class Ordered(Journal):
    label = "ordered"

    def start(self) -> None:
        super().start()
        ORDER.append("backend")


class Capture(FrameworkPlugin):
    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="capture", type=PluginType.FRAMEWORK)

    def start(self) -> None:
        super().start()
        ORDER.append("framework")

    def stop(self) -> None:
        ORDER.append("framework stopped")
        super().stop()


def settings() -> FerrotrackSettings:
    return FerrotrackSettings(
        orchestrator={"drain_timeout": 30.0, "backoff_initial": 0.001, "backoff_max": 0.01}
    )


def log_and_flush(writer: MetricWriter, start: int, n: int) -> None:
    for i in range(start, start + n):
        writer.log("loss", float(i), step=i)
    writer.flush()


def test_a_backend_whose_start_failed_is_unavailable_and_gets_nothing(tmp_path: Path) -> None:
    """Defect 10: the failed backend's route stayed, so it still received batches."""
    run = tmp_path / "run=s1"
    write_meta(run, status="finished")
    writer = MetricWriter(run, background=False)
    broken, good = Broken(), Journal()
    with pytest.warns(PluginWarning, match="broken"):
        session = PluginSession.open(
            run, sink=Sink(writer), backends=[broken, good], collectors=[], settings=settings()
        )
    session.attach(writer)
    log_and_flush(writer, 0, 20)
    writer.close()
    session.close("finished")
    assert broken.calls == []
    assert [p[2] for p in good.points] == list(range(20))
    status = session.status()["backends"]
    assert status["broken"]["state"] == "unavailable"
    assert "no server" in status["broken"]["last_error"]
    assert status["journal"]["state"] == "ok"
    assert not (run / "sync" / "broken").exists()


def test_session_feeds_flushed_batches_and_sends_statuses_in_order(tmp_path: Path) -> None:
    run = tmp_path / "run=s2"
    write_meta(run, status="running")
    writer = MetricWriter(run, background=False)
    journal = Journal()
    info = RunInfo("exp", "s2", "r", run, 1, params={"lr": 0.1})
    session = PluginSession.open(
        run, sink=Sink(writer), info=info, backends=[journal], collectors=[], settings=settings()
    )
    session.attach(writer)
    log_and_flush(writer, 0, 10)
    session.log_params({"seed": 1}, rows=10)
    log_and_flush(writer, 10, 10)
    session.stop_sources()
    writer.close()
    session.close("failed")
    assert journal.violations == []
    assert journal.kinds() == [
        "open_run",
        "set_status",
        "points",
        "log_params",
        "points",
        "set_status",
        "flush",
    ]
    assert journal.opened == [info]
    assert journal.calls[-2] == ("set_status", "failed")
    params_at = journal.kinds().index("log_params")
    assert journal.rows_before(params_at + 1) == 10


def test_a_rank_above_zero_delivers_its_rank_but_no_status(tmp_path: Path) -> None:
    run = tmp_path / "run=s3"
    write_meta(run, status="running")
    MetricWriter(run, rank=0, background=False).close()
    writer = MetricWriter(run, rank=1, background=False)
    journal = Journal()
    session = PluginSession.open(
        run, sink=Sink(writer), backends=[journal], collectors=[], settings=settings()
    )
    session.attach(writer)
    log_and_flush(writer, 0, 5)
    writer.close()
    session.close("finished")
    assert journal.opened[0].rank == 1
    assert "set_status" not in journal.kinds()
    assert {p[0] for p in journal.points} == {1}


def test_frameworks_start_after_backends_and_stop_with_the_sources(tmp_path: Path) -> None:
    ORDER.clear()
    run = tmp_path / "run=s4"
    write_meta(run)
    writer = MetricWriter(run, background=False)
    capture = Capture()
    session = PluginSession.open(
        run,
        sink=Sink(writer),
        backends=[Ordered()],
        collectors=[],
        frameworks=[capture],
        settings=settings(),
    )
    assert ORDER == ["backend", "framework"]
    assert capture.state == "started"
    session.stop_sources()
    assert ORDER[-1] == "framework stopped"
    writer.close()
    session.close("finished")


def test_frameworks_and_processors_come_from_the_settings(tmp_path: Path) -> None:
    from ferrotrack.core.plugins import PluginManager

    run = tmp_path / "run=s5"
    write_meta(run)
    manager = PluginManager(use_entry_points=False)
    manager.register_plugin(Capture)
    journal = Journal()
    chosen = FerrotrackSettings(
        frameworks=["capture"],
        processors=["every_nth"],
        processor_configs={"every_nth": {"n": 5}},
        orchestrator={"drain_timeout": 30.0},
    )
    writer = MetricWriter(run, background=False)
    session = PluginSession.open(
        run, sink=Sink(writer), backends=[journal], collectors=[], settings=chosen, manager=manager
    )
    assert [f.name for f in session.frameworks] == ["capture"]
    session.attach(writer)
    log_and_flush(writer, 0, 20)
    writer.close()
    session.close("finished")
    assert [p[2] for p in journal.points] == [0, 5, 10, 15]
