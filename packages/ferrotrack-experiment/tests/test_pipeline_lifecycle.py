"""Pipeline.run_wrapper / epoch_wrapper / end_epoch on a real ferrotrack run: what reaches
the store (points, events, status), what callbacks see, and how a stop or a failure ends."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import DictConfig, OmegaConf

import ferrotrack.core as ft
from ferrotrack.core.store.catalog import list_runs
from ferrotrack.experiment import (
    Callback,
    CallbackError,
    Environment,
    Level,
    Metric,
    Pipeline,
    PipelineError,
    RunStatus,
    StopTraining,
)

CONFIG = OmegaConf.create({"pipeline": {"epochs": 5}})


@pytest.fixture
def env(root: Path, tmp_path: Path) -> Iterator[Environment]:
    """The environment of one trial run, on a real run of the test's store."""
    run = ft.start_run("trial/0", experiment="pipelines")
    environment = Environment(tmp_path / "workspace", run=run, level=Level.TRIAL_RUN)
    yield environment
    environment.close()
    run.finish()


def finished(env: Environment) -> ft.Run:
    run = env.run
    assert run is not None
    run.finish()
    return run


def points(run: ft.Run) -> dict[str, list[tuple[int | None, float]]]:
    """Every point of the run by name, as (step, value) in logged order."""
    frame = ft.metrics(runs=[run.run_id]).collect()
    found: dict[str, list[tuple[int | None, float]]] = {}
    for name, step, value in frame.select("name", "step", "value").iter_rows():
        found.setdefault(str(name), []).append((step, value))
    return found


def events(run: ft.Run, kind: str | None = None) -> list[dict[str, Any]]:
    rows = ft.events(run_id=run.run_id, kind=kind).to_dicts()
    for row in rows:
        row["data"] = json.loads(row["data"])
    return rows


class Recorder(Callback):
    """Keeps what each hook received; answers ``verdicts[epoch]`` (default None)."""

    def __init__(self, env: Environment | None = None, verdicts: dict[int, Any] | None = None):
        super().__init__(env)
        self.calls: list[tuple[str, Any]] = []
        self.verdicts = verdicts or {}

    def on_start(self) -> None:
        self.calls.append(("on_start", None))

    def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> Any:
        self.calls.append(("on_epoch_end", (epoch_idx, metrics)))
        return self.verdicts.get(epoch_idx)

    def on_end(self, metrics: dict[Any, Any]) -> None:
        self.calls.append(("on_end", metrics))

    def epochs(self) -> list[tuple[int, dict[Any, Any]]]:
        return [args for hook, args in self.calls if hook == "on_epoch_end"]


class Losses(Pipeline):
    """Epoch e sets train/loss = 1/(e+1); a few keys only on some epochs."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> str:
        for epoch in range(config.pipeline.epochs):
            self.run_epoch(epoch)
        self.run_metrics[Metric.TEST_ACC] = 0.9
        self.run_metrics[Metric.CUSTOM] = ("final_score", 7.0)
        self.run_metrics[Metric.NETWORK] = object()
        return "done"

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> RunStatus:
        self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0 / (epoch_idx + 1)
        if epoch_idx == 0:
            self.epoch_metrics[Metric.VAL_ACC] = 0.5
        if epoch_idx % 2 == 1:
            self.epoch_metrics[Metric.CUSTOM] = [("grad_norm", float(epoch_idx))]
        self.epoch_metrics[Metric.CUSTOM_UNTRACKED] = [("debug_counter", epoch_idx)]
        self.epoch_metrics[Metric.NETWORK] = {"weights": epoch_idx}
        return RunStatus.SUCCESS


def test_epoch_wrapper_tracks_each_epoch_under_epoch_names_and_run_metrics_at_the_end(
    env: Environment,
) -> None:
    pipeline = Losses(env)
    recorder = Recorder()
    pipeline.register_callback(recorder)

    assert pipeline.run(CONFIG) == "done"

    assert pipeline.status is RunStatus.COMPLETED
    assert pipeline.stop_reason is None
    assert recorder.env is env
    stored = points(finished(env))
    assert stored["epoch/train/loss"] == [(e, 1.0 / (e + 1)) for e in range(5)]
    assert stored["epoch/val/acc"] == [(0, 0.5)]
    assert stored["epoch/grad_norm"] == [(1, 1.0), (3, 3.0)]
    # step None: the store numbers the run-level points itself
    assert [v for _, v in stored["test/acc"]] == [0.9]
    assert [v for _, v in stored["final_score"]] == [7.0]
    assert not [name for name in stored if "debug" in name or "weights" in name]
    assert set(stored) == {
        "epoch/train/loss",
        "epoch/val/acc",
        "epoch/grad_norm",
        "test/acc",
        "final_score",
    }


def test_epoch_metrics_are_cleared_after_every_epoch_so_nothing_accumulates(
    env: Environment,
) -> None:
    pipeline = Losses(env)
    recorder = Recorder()
    pipeline.register_callback(recorder)
    pipeline.run(CONFIG)

    seen = recorder.epochs()
    assert [epoch for epoch, _ in seen] == list(range(5))
    # VAL_ACC was set in epoch 0 only, CUSTOM in odd epochs only: no later epoch sees them.
    assert [Metric.VAL_ACC in metrics for _, metrics in seen] == [True] + [False] * 4
    assert [Metric.CUSTOM in metrics for _, metrics in seen] == [False, True, False, True, False]
    assert pipeline.epoch_metrics == {}


def test_untracked_metrics_reach_callbacks_but_never_the_store(env: Environment) -> None:
    pipeline = Losses(env)
    recorder = Recorder()
    pipeline.register_callback(recorder)
    pipeline.run(CONFIG)

    for epoch, metrics in recorder.epochs():
        assert metrics[Metric.CUSTOM_UNTRACKED] == [("debug_counter", epoch)]
        assert metrics[Metric.NETWORK] == {"weights": epoch}
    run = finished(env)
    assert not [e for e in events(run) if "debug" in json.dumps(e["data"])]
    assert all("debug" not in name for name in points(run))


def test_callbacks_get_copies_and_run_metrics_at_on_end(env: Environment) -> None:
    class Mutating(Callback):
        def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> None:
            metrics.clear()

    pipeline = Losses(env)
    recorder = Recorder()
    pipeline.register_callback(Mutating())
    pipeline.register_callback(recorder)
    pipeline.run(CONFIG)

    assert all(Metric.TRAIN_LOSS in metrics for _, metrics in recorder.epochs())
    hooks = [hook for hook, _ in recorder.calls]
    assert hooks == ["on_start"] + ["on_epoch_end"] * 5 + ["on_end"]
    end_metrics = recorder.calls[-1][1]
    assert end_metrics[Metric.TEST_ACC] == 0.9
    assert Metric.NETWORK in end_metrics  # callbacks see untracked run metrics too


def test_level_events_of_the_pipeline_and_each_epoch(env: Environment) -> None:
    Losses(env).run(CONFIG)
    rows = events(finished(env))

    epoch_rows = [(r["kind"], r["step"]) for r in rows if r["level"] == "epoch"]
    assert epoch_rows == [(kind, e) for e in range(5) for kind in ("level_start", "level_end")]
    pipeline_rows = [r for r in rows if r["level"] == "pipeline"]
    assert [r["kind"] for r in pipeline_rows] == ["level_start", "level_end"]
    assert pipeline_rows[0]["name"] == "Losses"
    assert pipeline_rows[1]["data"]["status"] == "completed"
    assert rows[0]["level"] == "pipeline"
    assert rows[-1]["level"] == "pipeline"


@pytest.mark.parametrize(
    ("verdict", "stops"),
    [
        (True, True),
        (StopTraining("plateau"), True),
        (np.bool_(True), True),
        (False, False),
        (None, False),
        (np.bool_(False), False),
    ],
    ids=["true", "stoptraining", "numpy-true", "false", "none", "numpy-false"],
)
def test_a_callbacks_answer_stops_or_goes_on(env: Environment, verdict: Any, stops: bool) -> None:
    pipeline = Losses(env)
    calls = []
    original = Losses.run_epoch

    def counted(self: Losses, epoch_idx: int) -> RunStatus:
        result = original(self, epoch_idx)
        calls.append((epoch_idx, result))
        return result

    pipeline.run_epoch = types.MethodType(counted, pipeline)  # type: ignore[method-assign]
    recorder = Recorder(verdicts={2: verdict})
    after = Recorder()
    pipeline.register_callback(recorder)
    pipeline.register_callback(after)

    # A stop skips the remaining epochs; the code after the loop still runs.
    assert pipeline.run(CONFIG) == "done"

    last = 2 if stops else 4
    assert [e for e, _ in recorder.epochs()] == list(range(last + 1))
    assert [e for e, _ in after.epochs()] == list(range(last + 1))  # all callbacks ran
    assert pipeline.status is (RunStatus.STOPPED if stops else RunStatus.COMPLETED)
    run = finished(env)
    assert [s for s, _ in points(run)["epoch/train/loss"]] == list(range(last + 1))
    end = [r for r in events(run, "level_end") if r["level"] == "pipeline"]
    assert end[0]["data"]["status"] == ("stopped" if stops else "completed")
    if stops:
        expected = "plateau" if isinstance(verdict, StopTraining) else "Recorder asked to stop"
        assert pipeline.stop_reason is not None
        assert expected in pipeline.stop_reason
        assert expected in end[0]["data"]["reason"]
        assert pipeline.stop_requested
        # Epochs 3 and 4 were called by the loop but skipped at once, nothing recorded.
        assert calls[3:] == [(3, RunStatus.SKIPPED), (4, RunStatus.SKIPPED)]
    # run_metrics are tracked either way: the final evaluation after the loop ran.
    assert [v for _, v in points(run)["test/acc"]] == [0.9]


def test_a_callback_that_raises_stoptraining_stops(env: Environment) -> None:
    class Raiser(Callback):
        def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> None:
            if epoch_idx == 1:
                raise StopTraining("budget spent")

    pipeline = Losses(env)
    pipeline.register_callback(Raiser())
    pipeline.run(CONFIG)

    assert pipeline.status is RunStatus.STOPPED
    assert pipeline.stop_reason == "budget spent"


@pytest.mark.parametrize("verdict", ["stop", 1, 0, 0.0, [], RunStatus.STOPPED])
def test_any_other_answer_is_a_callback_error_naming_the_callback(
    env: Environment, verdict: Any
) -> None:
    class Ambiguous(Callback):
        def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> Any:
            return verdict

    pipeline = Losses(env)
    pipeline.register_callback(Ambiguous())
    with pytest.raises(CallbackError, match=r"Ambiguous\.on_epoch_end returned"):
        pipeline.run(CONFIG)
    assert pipeline.status is RunStatus.FAILED


@pytest.mark.parametrize("hook", ["on_start", "on_epoch_end", "on_end"])
def test_a_callback_that_raises_fails_the_run_naming_callback_and_hook(
    env: Environment, hook: str
) -> None:
    class Broken(Callback):
        def on_start(self) -> None:
            if hook == "on_start":
                raise KeyError("missing")

        def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> None:
            if hook == "on_epoch_end":
                raise KeyError("missing")

        def on_end(self, metrics: dict[Any, Any]) -> None:
            if hook == "on_end":
                raise KeyError("missing")

    pipeline = Losses(env)
    pipeline.register_callback(Broken())
    with pytest.raises(CallbackError, match=rf"Broken\.{hook} raised KeyError") as caught:
        pipeline.run(CONFIG)
    assert isinstance(caught.value.__cause__, KeyError)
    assert pipeline.status is RunStatus.FAILED
    end = [r for r in events(finished(env), "level_end") if r["level"] == "pipeline"]
    assert end[0]["data"]["status"] == "failed"


class FailsAtEpoch2(Pipeline):
    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        self.run_metrics[Metric.LEARNING_RATE] = 0.01
        for epoch in range(5):
            self.run_epoch(epoch)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> None:
        self.epoch_metrics[Metric.TRAIN_LOSS] = float(epoch_idx)
        if epoch_idx == 2:
            raise ValueError("diverged")


def test_an_exception_marks_the_pipeline_failed_and_is_reraised(env: Environment) -> None:
    pipeline = FailsAtEpoch2(env)
    recorder = Recorder()
    pipeline.register_callback(recorder)

    with pytest.raises(ValueError, match="diverged"):
        pipeline.run(CONFIG)

    assert pipeline.status is RunStatus.FAILED
    assert pipeline.epoch_metrics == {}  # cleared although the epoch raised
    assert [e for e, _ in recorder.epochs()] == [0, 1]  # not asked about the failed epoch
    assert recorder.calls[-1][0] == "on_end"
    env.tracker_manager.track(Metric.VAL_LOSS, 1.0)  # the manager is usable afterwards
    run = finished(env)
    stored = points(run)
    assert stored["epoch/train/loss"] == [(0, 0.0), (1, 1.0)]  # epoch 2's partial value: no
    assert [v for _, v in stored["lr"]] == [0.01]  # run_metrics set before the failure: kept
    ends = events(run, "level_end")
    assert [(r["level"], r["step"], r["data"].get("status")) for r in ends][-2:] == [
        ("epoch", 2, "failed"),
        ("pipeline", None, "failed"),
    ]


def test_keyboard_interrupt_is_aborted(env: Environment) -> None:
    class Interrupted(Pipeline):
        @Pipeline.run_wrapper
        def run(self, config: DictConfig) -> None:
            raise KeyboardInterrupt

    pipeline = Interrupted(env)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(CONFIG)
    assert pipeline.status is RunStatus.ABORTED


def test_stoptraining_raised_by_the_epoch_keeps_that_epochs_metrics(env: Environment) -> None:
    class StopsItself(Pipeline):
        @Pipeline.run_wrapper
        def run(self, config: DictConfig) -> None:
            for epoch in range(5):
                self.run_epoch(epoch)

        @Pipeline.epoch_wrapper
        def run_epoch(self, epoch_idx: int) -> None:
            self.epoch_metrics[Metric.VAL_LOSS] = float(epoch_idx)
            if epoch_idx == 1:
                raise StopTraining("target reached")

    pipeline = StopsItself(env)
    recorder = Recorder(verdicts={1: True})
    pipeline.register_callback(recorder)
    pipeline.run(CONFIG)

    assert pipeline.status is RunStatus.STOPPED
    assert pipeline.stop_reason == "target reached"  # the pipeline's own reason wins
    assert [e for e, _ in recorder.epochs()] == [0, 1]
    run = finished(env)
    assert points(run)["epoch/val/loss"] == [(0, 0.0), (1, 1.0)]
    epoch_ends = [r for r in events(run, "level_end") if r["level"] == "epoch"]
    assert epoch_ends[-1]["data"]["status"] == "stopped"


def test_an_epoch_returning_runstatus_stopped_stops(env: Environment) -> None:
    class ReturnsStopped(Pipeline):
        @Pipeline.run_wrapper
        def run(self, config: DictConfig) -> None:
            for epoch in range(5):
                self.run_epoch(epoch)

        @Pipeline.epoch_wrapper
        def run_epoch(self, epoch_idx: int) -> RunStatus:
            self.epoch_metrics[Metric.VAL_LOSS] = float(epoch_idx)
            return RunStatus.STOPPED if epoch_idx == 3 else RunStatus.FINISHED

    pipeline = ReturnsStopped(env)
    pipeline.run(CONFIG)
    assert pipeline.status is RunStatus.STOPPED
    assert pipeline.stop_reason is not None
    assert "RunStatus.STOPPED at epoch 3" in pipeline.stop_reason
    assert [s for s, _ in points(finished(env))["epoch/val/loss"]] == [0, 1, 2, 3]


class Manual(Pipeline):
    """Seed 001's manual epoch lifecycle (no __init__, no from_config)."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, str]:
        for epoch in range(config.pipeline.epochs):
            self.env.tracker_manager.on_create(Level.EPOCH, epoch_id=epoch)
            self.env.tracker_manager.on_start(Level.EPOCH)
            self.epoch_metrics.clear()
            self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0 - epoch / 10
            self.epoch_metrics[Metric.TRAIN_ACC] = epoch / 10
            self.env.tracker_manager.on_end(Level.EPOCH)
            self.epoch_metrics.clear()
        self.run_metrics[Metric.TEST_LOSS] = 0.25
        return {"status": "completed"}


def test_the_manual_epoch_lifecycle_tracks_epoch_metrics_once(env: Environment) -> None:
    pipeline = Manual.from_config(CONFIG, env)
    recorder = Recorder()
    pipeline.register_callback(recorder)
    assert pipeline.run(CONFIG) == {"status": "completed"}

    assert [e for e, _ in recorder.epochs()] == list(range(5))
    stored = points(finished(env))
    assert stored["epoch/train/loss"] == [(e, 1.0 - e / 10) for e in range(5)]
    assert stored["epoch/train/acc"] == [(e, e / 10) for e in range(5)]
    assert [v for _, v in stored["test/loss"]] == [0.25]


def test_the_manual_lifecycle_stops_on_a_callbacks_true(env: Environment) -> None:
    pipeline = Manual(env)
    pipeline.register_callback(Recorder(verdicts={1: True}))
    pipeline.run(CONFIG)
    assert pipeline.status is RunStatus.STOPPED
    assert [s for s, _ in points(finished(env))["epoch/train/loss"]] == [0, 1]


def test_an_epoch_wrapper_without_an_attached_manager_still_ends_the_epoch(
    env: Environment,
) -> None:
    pipeline = Losses(env)
    recorder = Recorder()
    pipeline.register_callback(recorder)
    pipeline.run_epoch(0)  # outside run(): nothing attached to the tracker manager
    pipeline.run_epoch(1)

    assert [e for e, _ in recorder.epochs()] == [0, 1]
    assert points(finished(env))["epoch/train/loss"] == [(0, 1.0), (1, 0.5)]


def test_a_subclass_whose_init_skips_pipeline_init_still_runs(env: Environment) -> None:
    class OwnInit(Pipeline):
        def __init__(self, env: Environment) -> None:
            self.env = env

        @Pipeline.run_wrapper
        def run(self, config: DictConfig) -> None:
            for epoch in range(2):
                self.run_epoch(epoch)

        @Pipeline.epoch_wrapper
        def run_epoch(self, epoch_idx: int) -> None:
            self.epoch_metrics[Metric.TRAIN_LOSS] = 2.0

    pipeline = OwnInit(env)
    pipeline.run(CONFIG)
    assert pipeline.status is RunStatus.COMPLETED
    assert pipeline.name == "OwnInit"
    assert [s for s, _ in points(finished(env))["epoch/train/loss"]] == [0, 1]


def test_a_subclass_without_env_is_a_pipeline_error() -> None:
    class NoEnv(Pipeline):
        def __init__(self) -> None:
            pass

        @Pipeline.run_wrapper
        def run(self, config: DictConfig) -> None:
            pass

    with pytest.raises(PipelineError, match=r"NoEnv has no env.*Pipeline\.__init__"):
        NoEnv().run(CONFIG)


def test_register_callback_refuses_what_is_not_a_callback(env: Environment) -> None:
    with pytest.raises(TypeError, match="expected a Callback instance, got function"):
        Losses(env).register_callback(lambda e, m: None)  # type: ignore[arg-type]


def test_the_trial_run_can_be_finished_with_the_pipelines_outcome(root: Path) -> None:
    """What the experiment does with a stopped pipeline: a finished run."""
    run = ft.start_run("trial/1", experiment="pipelines")
    env = Environment(root.parent / "ws", run=run, level=Level.TRIAL_RUN)
    pipeline = Losses(env)
    pipeline.register_callback(Recorder(verdicts={0: True}))
    pipeline.run(CONFIG)
    run.finish("finished")
    env.close()

    (record,) = [r for r in list_runs(root) if r.ref.run_id == run.run_id]
    assert record.status == "finished"
    assert pipeline.status is RunStatus.STOPPED


class Reports(Pipeline):
    """Its epochs return what ``config.pipeline.answer`` names."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> str:
        for epoch in range(3):
            self.run_epoch(epoch, RunStatus[config.pipeline.answer])
        return "done"

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int, answer: RunStatus) -> RunStatus:
        self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0
        return answer if epoch_idx == 1 else RunStatus.SUCCESS


@pytest.mark.parametrize("answer", ["FAILED", "ABORTED"])
def test_an_epoch_returning_failed_fails_the_pipeline(env: Environment, answer: str) -> None:
    pipeline = Reports(env)
    with pytest.raises(PipelineError, match=f"returned RunStatus.{answer} at epoch 1"):
        pipeline.run(OmegaConf.create({"pipeline": {"answer": answer}}))
    assert pipeline.status is RunStatus.FAILED


class Forever(Pipeline):
    """An open-ended epoch loop that only ends when something stops it."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> str:
        epoch = 0
        while True:
            self.run_epoch(epoch)
            epoch += 1

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> None:
        if epoch_idx == 2:
            raise StopTraining("enough")


def test_an_open_ended_epoch_loop_ends_after_a_stop(env: Environment) -> None:
    pipeline = Forever(env)
    pipeline.run(CONFIG)
    assert pipeline.status is RunStatus.STOPPED
    assert pipeline.stop_reason == "enough"
    run = finished(env)
    starts = [e for e in events(run, "level_start") if e["level"] == "epoch"]
    assert len(starts) == 3  # the skipped calls record nothing
