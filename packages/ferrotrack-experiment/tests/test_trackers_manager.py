"""TrackerManager on a real run: metric keys land under their documented names, untracked
keys nowhere, levels/checkpoints/artifacts/confusion matrices become run events, user
trackers see the raw calls and a failing one only warns."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.store.events import read_events
from ferrotrack.experiment.common import METRIC_NAMES, UNTRACKED_METRICS, Level, Metric, RunStatus
from ferrotrack.experiment.trackers.tracker import Tracker
from ferrotrack.experiment.trackers.tracker_manager import TrackerManager, TrackerWarning
from ferrotrack.experiment.trackers.values import json_safe, metric_name


def points(run: ft.Run) -> list[tuple[str, int | None, float]]:
    """The run's points as stored, in logged order."""
    run.flush()
    frame = ft.metrics(experiment=run.experiment, runs=run.run_id).collect()
    return [(r["name"], r["step"], r["value"]) for r in frame.iter_rows(named=True)]


def events(run: ft.Run, kind: str | None = None) -> list[Any]:
    return [e for e in read_events(run.run_dir) if kind is None or e.kind == kind]


class Recorder(Tracker):
    """A user tracker that remembers every call."""

    def __init__(self, workspace: str | Path | None = None) -> None:
        super().__init__(workspace)
        self.calls: list[tuple[Any, ...]] = []

    def track(
        self, metric: Metric | str, value: Any, step: int | None = None, *args: Any, **kwargs: Any
    ) -> None:
        self.calls.append(("track", metric, value, step))

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.calls.append(("log_params", dict(params)))

    def on_create(self, level: Level, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("on_create", level, kwargs))

    def on_start(self, level: Level, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("on_start", level, kwargs))

    def on_end(self, level: Level, *args: Any, **kwargs: Any) -> None:
        self.calls.append(("on_end", level, kwargs))

    def on_checkpoint(
        self,
        network: Any,
        checkpoint_path: str,
        metrics: Mapping[Any, Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.calls.append(("on_checkpoint", checkpoint_path, metrics))

    def on_add_artifact(
        self,
        level: Level,
        artifact_path: str,
        artifact_type: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        self.calls.append(("on_add_artifact", level, artifact_path, artifact_type))

    def save(self) -> None:
        self.calls.append(("save",))


@pytest.fixture
def run(root: Path) -> Iterator[ft.Run]:
    with ft.start_run("trial/0", experiment="trackers") as opened:
        yield opened


# ---- metric names ------------------------------------------------------------------------


def test_each_scalar_key_is_logged_under_its_documented_name(run: ft.Run) -> None:
    manager = TrackerManager(run, level=Level.TRIAL_RUN)
    for step, metric in enumerate(METRIC_NAMES):
        manager.track(metric, float(step), step)
    assert points(run) == [(name, i, float(i)) for i, name in enumerate(METRIC_NAMES.values())]
    assert METRIC_NAMES[Metric.TRAIN_LOSS] == "train/loss"
    assert METRIC_NAMES[Metric.LEARNING_RATE] == "lr"


scalar_keys = st.sampled_from(list(METRIC_NAMES))
custom_names = st.from_regex(r"[a-z][a-z0-9_/]{0,20}", fullmatch=True)
values = st.floats(allow_nan=False, allow_infinity=False, width=64)
calls = st.lists(
    st.one_of(
        st.tuples(scalar_keys, values),
        st.tuples(st.just(Metric.CUSTOM), st.tuples(custom_names, values)),
        st.tuples(st.just(Metric.CUSTOM), st.lists(st.tuples(custom_names, values), max_size=3)),
        st.tuples(custom_names, values),
        st.tuples(st.sampled_from(sorted(UNTRACKED_METRICS)), st.just(object())),
    ),
    max_size=12,
)


def expected(metric: Any, value: Any, step: int) -> list[tuple[str, int, float]]:
    if isinstance(metric, str):
        return [(metric, step, value)]
    if metric in UNTRACKED_METRICS:
        return []
    if metric is Metric.CUSTOM:
        pairs = [value] if isinstance(value, tuple) else value
        return [(n, step, v) for n, v in pairs]
    return [(METRIC_NAMES[metric], step, value)]


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tracked=calls)
def test_tracked_keys_land_under_their_names_and_untracked_never_reach_the_store(
    root: Path, tracked: list[tuple[Any, Any]]
) -> None:
    recorder = Recorder()
    with ft.start_run(experiment="roundtrip") as run:
        manager = TrackerManager(run, [recorder])
        want: list[tuple[str, int, float]] = []
        for step, (metric, value) in enumerate(tracked):
            manager.track(metric, value, step)
            want += expected(metric, value, step)
        assert points(run) == want
    # the user tracker saw every tracked call raw, and no untracked one
    seen = [(m, v, s) for _, m, v, s in recorder.calls]
    assert seen == [(m, v, s) for s, (m, v) in enumerate(tracked) if m not in UNTRACKED_METRICS]
    assert {metric_name(m) for m in METRIC_NAMES} == set(METRIC_NAMES.values())


def test_a_string_key_is_logged_under_itself_also_on_the_fast_path(run: ft.Run) -> None:
    manager = TrackerManager(run)
    for step in range(3):
        manager.track("grad/norm", step * 0.5, step)
    assert points(run) == [("grad/norm", 0, 0.0), ("grad/norm", 1, 0.5), ("grad/norm", 2, 1.0)]


def test_custom_metric_values_must_be_named_pairs(run: ft.Run) -> None:
    manager = TrackerManager(run)
    with pytest.raises(InvalidArgumentError, match=r"Metric.CUSTOM.*\(name, value\)"):
        manager.track(Metric.CUSTOM, 0.5, 1)
    with pytest.raises(InvalidArgumentError, match="expected a Metric or a metric name"):
        manager.track(3.5, 1.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="expected a Metric or a metric name"):
        manager.track([1], 1.0)  # type: ignore[arg-type]
    assert points(run) == []


def test_epoch_metrics_get_their_own_series_with_the_epoch_as_step(run: ft.Run) -> None:
    manager = TrackerManager(run)
    manager.track(Metric.TRAIN_LOSS, 0.9, 10)
    manager.track_epoch(
        {
            Metric.TRAIN_LOSS: 0.8,
            Metric.CUSTOM: [("grad_norm", 2.0)],
            "throughput": 100.0,
            Metric.NETWORK: object(),
            Metric.CUSTOM_UNTRACKED: [("debug", 1.0)],
        },
        epoch=3,
    )
    manager.track_dict({Metric.VAL_ACC: 0.5, Metric.LEARNING_RATE: 0.01}, step=4)
    assert points(run) == [
        ("train/loss", 10, 0.9),
        ("epoch/train/loss", 3, 0.8),
        ("epoch/grad_norm", 3, 2.0),
        ("epoch/throughput", 3, 100.0),
        ("val/acc", 4, 0.5),
        ("lr", 4, 0.01),
    ]


def test_a_confusion_matrix_is_a_run_event(run: ft.Run) -> None:
    manager = TrackerManager(run)
    manager.track(Metric.CONFUSION, np.array([[5, 1], [2, 7]]), step=2)
    manager.track_epoch({Metric.CONFUSION: [[1, 0], [0, 1]]}, epoch=0)
    got = events(run, "confusion")
    assert [(e.name, e.step, e.data) for e in got] == [
        ("confusion", 2, {"matrix": [[5, 1], [2, 7]]}),
        ("epoch/confusion", 0, {"matrix": [[1, 0], [0, 1]]}),
    ]
    assert points(run) == []
    with pytest.raises(InvalidArgumentError, match="2-D matrix"):
        manager.track(Metric.CONFUSION, 3.0)


def test_without_a_run_only_user_trackers_see_the_calls() -> None:
    recorder = Recorder()
    manager = TrackerManager(None, [recorder])
    manager.track(Metric.TRAIN_LOSS, 1.0, 0)
    manager.track(Metric.CONFUSION, [[1]], 0)
    manager.on_start(Level.EXPERIMENT, name="exp")
    manager.log_params({"lr": 0.1})
    assert [c[0] for c in recorder.calls] == ["track", "track", "on_start", "log_params"]


def test_params_reach_the_run_and_the_trackers(run: ft.Run) -> None:
    from omegaconf import OmegaConf

    recorder = Recorder()
    manager = TrackerManager(run, [recorder])
    manager.log_params(OmegaConf.create({"optim": {"lr": 0.1}, "epochs": "${n}", "n": 3}))
    manager.log_params({"batch_size": 64})
    assert run.params == {"optim": {"lr": 0.1}, "epochs": 3, "n": 3, "batch_size": 64}
    assert recorder.calls[-1] == ("log_params", {"batch_size": 64})


# ---- levels --------------------------------------------------------------------------------


def test_levels_become_events_with_the_epoch_as_step(run: ft.Run) -> None:
    recorder = Recorder()
    manager = TrackerManager(run, [recorder], level=Level.TRIAL_RUN)
    manager.on_create(Level.PIPELINE, name="Demo", pipeline_id=1)
    manager.on_start(Level.PIPELINE)
    for epoch in (0, 1):
        manager.on_create(Level.EPOCH, epoch_id=epoch)
        manager.on_start(Level.EPOCH)
        manager.on_end(Level.EPOCH)
    manager.on_end(Level.PIPELINE, status=RunStatus.COMPLETED)
    got = [(e.kind, e.level, e.name, e.step, e.data) for e in events(run)]
    assert got == [
        ("level_start", "pipeline", "Demo", None, {"name": "Demo", "pipeline_id": 1}),
        ("level_start", "epoch", None, 0, {"epoch_id": 0}),
        ("level_end", "epoch", None, 0, {"epoch_id": 0}),
        ("level_start", "epoch", None, 1, {"epoch_id": 1}),
        ("level_end", "epoch", None, 1, {"epoch_id": 1}),
        (
            "level_end",
            "pipeline",
            "Demo",
            None,
            {"name": "Demo", "pipeline_id": 1, "status": "completed"},
        ),
    ]
    assert recorder.calls[0] == ("on_create", Level.PIPELINE, {"name": "Demo", "pipeline_id": 1})
    # save() only when the manager's own level ends
    assert ("save",) not in recorder.calls
    manager.on_end(Level.TRIAL_RUN)
    assert recorder.calls[-1] == ("save",)


def test_epochs_without_an_id_are_counted(run: ft.Run) -> None:
    manager = TrackerManager(run)
    for _ in range(2):
        manager.on_start(Level.EPOCH)
        manager.on_end(Level.EPOCH)
    assert [e.step for e in events(run)] == [0, 0, 1, 1]


class StandInPipeline:
    """Just what the manager calls on a pipeline: ``end_epoch``."""

    def __init__(self, manager: TrackerManager, stop_at: int | None = None) -> None:
        self.manager = manager
        self.stop_at = stop_at
        self.ended: list[int] = []
        self.epoch_metrics: dict[Any, float] = {}

    def end_epoch(self, epoch_idx: int) -> None:
        self.ended.append(epoch_idx)
        self.manager.track_epoch(self.epoch_metrics, epoch_idx)
        if epoch_idx == self.stop_at:
            raise StopIteration("patience")


def test_ending_an_epoch_runs_the_attached_pipelines_end_epoch(run: ft.Run) -> None:
    manager = TrackerManager(run)
    pipeline = StandInPipeline(manager)
    manager.attach_pipeline(pipeline)
    for epoch in (4, 5):
        manager.on_create(Level.EPOCH, epoch_id=epoch)
        manager.on_start(Level.EPOCH)
        pipeline.epoch_metrics = {Metric.TRAIN_LOSS: 1.0 / epoch}
        manager.on_end(Level.EPOCH)
    manager.on_end(Level.PIPELINE)  # not an epoch: no end_epoch
    manager.detach_pipeline()
    manager.on_start(Level.EPOCH)
    manager.on_end(Level.EPOCH)
    assert pipeline.ended == [4, 5]
    assert points(run) == [("epoch/train/loss", 4, 0.25), ("epoch/train/loss", 5, 0.2)]
    # the points come before the epoch's level_end event
    ends = [e for e in events(run, "level_end") if e.level == "epoch"]
    assert [(e.step, e.rows) for e in ends] == [(4, 1), (5, 2), (6, 2)]


def test_a_stop_raised_by_end_epoch_still_records_the_end(run: ft.Run) -> None:
    recorder = Recorder()
    manager = TrackerManager(run, [recorder])
    pipeline = StandInPipeline(manager, stop_at=0)
    manager.attach_pipeline(pipeline)
    manager.on_create(Level.EPOCH, epoch_id=0)
    manager.on_start(Level.EPOCH)
    with pytest.raises(StopIteration):
        manager.on_end(Level.EPOCH)
    (end,) = events(run, "level_end")
    assert end.data == {"epoch_id": 0, "ended_by": "StopIteration"}
    assert recorder.calls[-1][0] == "on_end"


# ---- checkpoints and artifacts -------------------------------------------------------------


def test_a_network_is_saved_into_the_workspace_and_becomes_an_artifact(
    run: ft.Run, tmp_path: Path
) -> None:
    manager = TrackerManager(run)
    manager.workspace = tmp_path / "ws"
    manager.on_create(Level.EPOCH, epoch_id=2)
    manager.on_checkpoint(
        {"weights": [1, 2, 3]},
        "checkpoints/epoch_2.pth",
        {Metric.VAL_LOSS: np.float32(0.5), "epoch": 2, Metric.NETWORK: object()},
    )
    saved = tmp_path / "ws" / "checkpoints" / "epoch_2.pth"
    assert pickle.loads(saved.read_bytes()) == {"weights": [1, 2, 3]}
    copy = run.run_dir / "artifacts" / "checkpoints" / "epoch_2.pth"
    assert copy.read_bytes() == saved.read_bytes()
    (event,) = events(run, "checkpoint")
    assert (event.name, event.level, event.step) == ("epoch_2.pth", "epoch", 2)
    assert event.data == {
        "path": "checkpoints/epoch_2.pth",
        "saved": True,
        "artifact": "checkpoints/epoch_2.pth",
        "metrics": {"val/loss": 0.5, "epoch": 2},
    }


def test_an_existing_checkpoint_file_is_kept_as_is(run: ft.Run, tmp_path: Path) -> None:
    manager = TrackerManager(run)
    manager.workspace = tmp_path
    (tmp_path / "model.bin").write_bytes(b"mine")
    manager.on_checkpoint(object(), "model.bin", step=7)
    assert (tmp_path / "model.bin").read_bytes() == b"mine"
    (event,) = events(run, "checkpoint")
    assert (event.step, event.data["artifact"]) == (7, "checkpoints/model.bin")


def test_a_missing_checkpoint_without_a_network_is_an_event_and_one_warning(
    run: ft.Run, tmp_path: Path
) -> None:
    recorder = Recorder()
    manager = TrackerManager(run, [recorder])
    manager.workspace = tmp_path
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for epoch in (0, 2):
            manager.on_checkpoint(None, f"checkpoints/epoch_{epoch}.pth", {Metric.TRAIN_ACC: 0.7})
    assert [(w.category, "does not exist" in str(w.message)) for w in caught] == [
        (TrackerWarning, True)
    ]
    got = events(run, "checkpoint")
    assert [e.data for e in got] == [
        {"path": f"checkpoints/epoch_{i}.pth", "metrics": {"train/acc": 0.7}} for i in (0, 2)
    ]
    assert not (run.run_dir / "artifacts").exists()
    assert recorder.calls[-1] == (
        "on_checkpoint",
        str(tmp_path / "checkpoints" / "epoch_2.pth"),
        {Metric.TRAIN_ACC: 0.7},
    )


def test_an_unpicklable_network_warns_and_records_the_event(run: ft.Run, tmp_path: Path) -> None:
    manager = TrackerManager(run)
    manager.workspace = tmp_path
    with pytest.warns(TrackerWarning, match="could not save the network"):
        manager.on_checkpoint(lambda: None, "ckpt.pkl")
    (event,) = events(run, "checkpoint")
    assert event.data["saved"] is False
    assert "PicklingError" in event.data["error"] or "AttributeError" in event.data["error"]
    assert not (tmp_path / "ckpt.pkl").exists()


def test_an_artifact_is_copied_and_recorded_with_its_type(run: ft.Run, tmp_path: Path) -> None:
    recorder = Recorder()
    manager = TrackerManager(run, [recorder])
    manager.workspace = tmp_path
    (tmp_path / "metrics.csv").write_text("epoch,loss\n0,1.0\n")
    manager.on_add_artifact(Level.PIPELINE, "metrics.csv", "metrics_csv")
    assert (run.run_dir / "artifacts" / "metrics.csv").read_text() == "epoch,loss\n0,1.0\n"
    (event,) = events(run, "artifact")
    assert (event.name, event.level, event.data) == (
        "metrics.csv",
        "pipeline",
        {"type": "metrics_csv", "path": "metrics.csv"},
    )
    assert recorder.calls[-1] == (
        "on_add_artifact",
        Level.PIPELINE,
        str(tmp_path / "metrics.csv"),
        "metrics_csv",
    )
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        manager.on_add_artifact(Level.PIPELINE, "missing.txt")


# ---- user trackers -------------------------------------------------------------------------


class Broken(Tracker):
    def track(
        self, metric: Metric | str, value: Any, step: int | None = None, *args: Any, **kwargs: Any
    ) -> None:
        raise RuntimeError("disk full")


def test_a_failing_user_tracker_warns_once_and_nothing_is_lost(run: ft.Run) -> None:
    recorder = Recorder()
    manager = TrackerManager(run, [Broken(), recorder])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            manager.track(Metric.TRAIN_LOSS, 1.0, step)
    assert [(w.category, str(w.message).split(";")[0]) for w in caught] == [
        (TrackerWarning, "tracker Broken.track raised RuntimeError: disk full")
    ]
    assert len(points(run)) == 3
    assert len(recorder.calls) == 3


def test_children_hold_each_trackers_child_and_their_own_run(run: ft.Run, tmp_path: Path) -> None:
    class PerLevel(Recorder):
        def create_child(self, workspace: str | Path | None = None) -> Tracker:
            return PerLevel(workspace)

    parent_tracker = PerLevel()
    parent = TrackerManager(None, [parent_tracker], level=Level.TRIAL)
    parent.workspace = tmp_path
    child = parent.create_child(run, level=Level.TRIAL_RUN, workspace=tmp_path / "t0")
    assert (child.run, child.level, child.workspace) == (run, Level.TRIAL_RUN, tmp_path / "t0")
    (child_tracker,) = child.trackers
    assert child_tracker is not parent_tracker
    assert child_tracker.workspace == tmp_path / "t0"
    shared = TrackerManager(None, [Recorder()]).create_child(run, level=Level.PIPELINE)
    assert shared.workspace is None
    child.track(Metric.TEST_ACC, 0.9)
    assert [(n, v) for n, _, v in points(run)] == [("test/acc", 0.9)]
    assert parent_tracker.calls == []


def test_add_tracker_refuses_what_is_not_a_tracker() -> None:
    with pytest.raises(InvalidArgumentError, match="expected a Tracker, got dict"):
        TrackerManager(None).add_tracker({})  # type: ignore[arg-type]


def test_event_data_is_made_json_safe() -> None:
    data = json_safe(
        {
            Metric.VAL_ACC: np.float64(0.5),
            "level": Level.TRIAL_RUN,
            "status": RunStatus.SUCCESS,
            "path": Path("/a"),
            "nan": float("nan"),
            "array": np.arange(3),
            "obj": object(),
        }
    )
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["val/acc"] == 0.5
    assert data["level"] == "trial_run"
    assert data["status"] == "completed"
    assert data["array"] == [0, 1, 2]
    assert data["nan"] == "nan"
    assert data["obj"].startswith("<object object")


# ---- checkpoints: which file wins, and where it lands --------------------------------------


def test_a_checkpoint_file_from_before_the_run_is_replaced_by_the_network(
    run: ft.Run, tmp_path: Path
) -> None:
    """A file an earlier attempt left at the same path never stands in for this network."""
    (tmp_path / "final.pkl").write_bytes(pickle.dumps({"attempt": 1}))
    os.utime(tmp_path / "final.pkl", ns=(1_000_000_000, 1_000_000_000))
    manager = TrackerManager(run)
    manager.workspace = tmp_path
    manager.on_checkpoint({"attempt": 2}, "final.pkl")
    stored = run.run_dir / "artifacts" / "checkpoints" / "final.pkl"
    assert pickle.loads(stored.read_bytes()) == {"attempt": 2}


def test_a_path_checkpointed_again_holds_the_latest_network(run: ft.Run, tmp_path: Path) -> None:
    manager = TrackerManager(run)
    manager.workspace = tmp_path
    manager.on_checkpoint({"v": 1}, "best.pkl", step=1)
    manager.on_checkpoint({"v": 2}, "best.pkl", step=2)
    stored = run.run_dir / "artifacts" / "checkpoints" / "best.pkl"
    assert pickle.loads(stored.read_bytes()) == {"v": 2}
    assert [e.step for e in events(run, "checkpoint")] == [1, 2]


def test_two_checkpoints_with_one_file_name_are_two_artifacts(run: ft.Run, tmp_path: Path) -> None:
    manager = TrackerManager(run)
    manager.workspace = tmp_path
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    manager.on_checkpoint({"which": "a"}, "a/model.pt")
    manager.on_checkpoint({"which": "b"}, "b/model.pt")
    manager.on_checkpoint({"which": "c"}, outside / "model.pt")
    manager.on_checkpoint({"which": "d"}, outside / "sub" / "model.pt")
    names = [e.data["artifact"] for e in events(run, "checkpoint")]
    assert names == [
        "checkpoints/a/model.pt",
        "checkpoints/b/model.pt",
        "checkpoints/model.pt",
        "checkpoints/model-2.pt",
    ]
    artifacts = run.run_dir / "artifacts"
    assert [pickle.loads((artifacts / n).read_bytes())["which"] for n in names] == list("abcd")


def test_a_relative_checkpoint_the_script_saved_in_its_folder_is_found(
    run: ft.Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 001 saves ``checkpoints/epoch_N.pth`` relative to where the script runs, then
    calls on_checkpoint with the same path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch_0.pth").write_bytes(b"saved by the script")
    manager = TrackerManager(run)
    manager.workspace = tmp_path / "workspace"
    manager.on_checkpoint(None, "checkpoints/epoch_0.pth")
    (event,) = events(run, "checkpoint")
    assert (run.run_dir / "artifacts" / event.data["artifact"]).read_bytes() == (
        b"saved by the script"
    )


def test_numpy_epoch_indexes_are_epoch_indexes(run: ft.Run) -> None:
    manager = TrackerManager(run)
    for epoch in np.arange(5, 7):
        manager.on_create(Level.EPOCH, epoch_id=epoch)
        manager.on_start(Level.EPOCH)
        manager.track_epoch({Metric.VAL_LOSS: 0.5}, int(epoch))
        manager.on_end(Level.EPOCH)
    with pytest.warns(TrackerWarning, match="does not exist"):
        manager.on_checkpoint(None, "nowhere.pt", step=np.int64(9))
    ends = [e.step for e in events(run, "level_end")]
    assert ends == [5, 6]
    assert [e.step for e in events(run, "checkpoint")] == [9]


def test_a_pipeline_run_inside_another_gives_the_manager_back_to_it(run: ft.Run) -> None:
    manager = TrackerManager(run)
    outer, inner = object(), object()
    manager.attach_pipeline(outer)
    manager.attach_pipeline(inner)
    assert manager.pipeline is inner
    manager.detach_pipeline()
    assert manager.pipeline is outer
    manager.detach_pipeline()
    assert manager.pipeline is None
