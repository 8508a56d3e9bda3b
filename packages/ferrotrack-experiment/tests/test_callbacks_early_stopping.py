"""EarlyStopping: when it stops (min/max, patience, min_delta_percent), which metric it
watches, and what a bad setting says."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf

import ferrotrack.core as ft
from ferrotrack.experiment import (
    METRIC_NAMES,
    CallbackError,
    ConfigError,
    EarlyStopping,
    Environment,
    Level,
    Metric,
    Pipeline,
    RunStatus,
    StopTraining,
)
from ferrotrack.experiment.callbacks.early_stopping import metric_name

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


def stop_epoch(
    callback: EarlyStopping, series: list[float], key: Any = Metric.VAL_LOSS
) -> int | None:
    """The first epoch at which the callback asks to stop, or None."""
    callback.on_start()
    for epoch, value in enumerate(series):
        verdict = callback.on_epoch_end(epoch, {key: value})
        if verdict is not None:
            assert isinstance(verdict, StopTraining)
            return epoch
    return None


def reference(series: list[float], patience: int, pct: float, mode: str) -> int | None:
    """The rule in words: stop at the patience-th epoch in a row that does not beat the best
    so far by more than pct percent of it."""
    best: float | None = None
    since = 0
    for epoch, value in enumerate(series):
        margin = 0.0 if best is None else abs(best) * pct / 100
        better = best is None or (value < best - margin if mode == "min" else value > best + margin)
        if better:
            best, since = value, 0
        else:
            since += 1
            if since >= patience:
                return epoch
    return None


@given(
    series=st.lists(values, max_size=30),
    patience=st.integers(0, 6),
    pct=st.sampled_from([0.0, 0.5, 10.0]),
    mode=st.sampled_from(["min", "max"]),
)
def test_stops_where_the_rule_says(
    series: list[float], patience: int, pct: float, mode: str
) -> None:
    callback = EarlyStopping(patience=patience, min_delta_percent=pct, mode=mode)  # type: ignore[arg-type]
    assert stop_epoch(callback, series) == reference(series, patience, pct, mode)


@given(series=st.lists(values, max_size=30), patience=st.integers(0, 6))
def test_max_mode_on_a_series_is_min_mode_on_its_negation(
    series: list[float], patience: int
) -> None:
    low = EarlyStopping(patience=patience, mode="min")
    high = EarlyStopping(patience=patience, mode="max")
    assert stop_epoch(low, series) == stop_epoch(high, [-v for v in series])


@given(start=values, steps=st.lists(st.floats(1e-3, 1e3), max_size=30), patience=st.integers(0, 4))
def test_a_strictly_improving_metric_never_stops(
    start: float, steps: list[float], patience: int
) -> None:
    series = [start]
    for step in steps:
        series.append(series[-1] - step)
    assert stop_epoch(EarlyStopping(patience=patience), series) is None


@given(best=values, patience=st.integers(0, 6), flat=st.integers(0, 10))
def test_after_the_best_epoch_it_stops_exactly_patience_epochs_later(
    best: float, patience: int, flat: int
) -> None:
    series = [best + 10.0, best] + [best] * flat
    waits = max(patience, 1)  # patience 0 stops at the first epoch without improvement
    expected = 1 + waits if flat >= waits else None
    assert stop_epoch(EarlyStopping(patience=patience), series) == expected


def test_min_delta_percent_needs_more_than_that_share_of_the_best() -> None:
    callback = EarlyStopping(patience=1, min_delta_percent=10.0)
    assert stop_epoch(callback, [100.0, 89.0, 80.0]) is None  # 11 % better, then 10.1 %
    assert stop_epoch(callback, [100.0, 89.0, 80.5]) == 2  # 9.55 % better: not enough
    assert stop_epoch(callback, [100.0, 90.0]) == 1  # exactly 10 %: not more than it


def test_nan_is_never_an_improvement_and_on_start_resets() -> None:
    callback = EarlyStopping(patience=2)
    assert stop_epoch(callback, [1.0, math.nan, math.nan]) == 2
    assert callback.best == 1.0
    callback.on_start()
    assert callback.best is None
    assert callback.wait == 0


def test_the_stop_reason_names_metric_and_best_epoch() -> None:
    callback = EarlyStopping(metric="val_acc", patience=1, mode="max")
    callback.on_epoch_end(0, {Metric.VAL_ACC: 0.5})
    verdict = callback.on_epoch_end(1, {Metric.VAL_ACC: 0.4})
    assert isinstance(verdict, StopTraining)
    assert verdict.reason.startswith("EarlyStopping: val/acc did not improve for 1 epochs")
    assert "best 0.5 at epoch 0" in verdict.reason


@given(metric=st.sampled_from(sorted(METRIC_NAMES)))
def test_a_metric_is_found_by_enum_name_store_name_or_member(metric: Metric) -> None:
    stored = METRIC_NAMES[metric]
    for spelling in (metric, metric.name, metric.name.lower(), stored):
        assert metric_name(spelling) == stored
    callback = EarlyStopping(metric=metric.name.lower(), patience=0)
    callback.on_epoch_end(0, {metric: 1.0})
    assert callback.on_epoch_end(1, {metric: 1.0}) is not None


@given(name=st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12))
def test_any_other_name_is_a_custom_metric_name(name: str) -> None:
    member = Metric.__members__.get(name.upper())
    if member is not None and member in METRIC_NAMES:
        return  # a Metric's own name, covered above
    assert metric_name(name) == name


@pytest.mark.parametrize(
    "metrics",
    [
        {Metric.CUSTOM: ("score", 1.0)},
        {Metric.CUSTOM: [("other", 5.0), ("score", 1.0)]},
        {Metric.CUSTOM_UNTRACKED: [("score", 1.0)]},
        {"score": 1.0},
    ],
    ids=["custom-pair", "custom-list", "untracked", "plain-name"],
)
def test_custom_metrics_are_watched_by_their_names(metrics: dict[Any, Any]) -> None:
    callback = EarlyStopping(metric="score", patience=0, mode="max")
    assert callback.on_epoch_end(0, metrics) is None
    assert isinstance(callback.on_epoch_end(1, metrics), StopTraining)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"patience": -1}, "patience"),
        ({"patience": 1.5}, "patience"),
        ({"patience": True}, "patience"),
        ({"min_delta_percent": -0.1}, "min_delta_percent"),
        ({"min_delta_percent": math.nan}, "min_delta_percent"),
        ({"mode": "lowest"}, "mode"),
        ({"metric": Metric.NETWORK}, "metric"),
        ({"metric": ""}, "metric"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_key(kwargs: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        EarlyStopping(**kwargs)
    assert caught.value.key == key


@pytest.fixture
def env(root: Path, tmp_path: Path) -> Iterator[Environment]:
    run = ft.start_run("trial/0", experiment="early")
    environment = Environment(tmp_path / "workspace", run=run, level=Level.TRIAL_RUN)
    yield environment
    environment.close()
    run.finish()


class Plateau(Pipeline):
    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        for epoch in range(20):
            self.run_epoch(epoch)

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> None:
        self.epoch_metrics[Metric.VAL_LOSS] = max(1.0, 5.0 - epoch_idx)


def test_in_a_pipeline_the_stop_ends_the_run_as_stopped(env: Environment) -> None:
    pipeline = Plateau(env)
    pipeline.register_callback(EarlyStopping(patience=3))
    pipeline.run(OmegaConf.create({}))

    assert pipeline.status is RunStatus.STOPPED
    assert pipeline.stop_reason is not None
    assert "best 1.0 at epoch 4" in pipeline.stop_reason
    assert env.run is not None
    env.run.finish()
    frame = ft.metrics(runs=[env.run.run_id], names="epoch/val/loss").collect()
    assert frame["step"].to_list() == list(range(8))


def test_a_metric_the_epoch_lacks_fails_the_run_with_a_callback_error(env: Environment) -> None:
    pipeline = Plateau(env)
    pipeline.register_callback(EarlyStopping(metric="val_acc"))
    with pytest.raises(CallbackError, match=r"EarlyStopping\.on_epoch_end raised ConfigError"):
        pipeline.run(OmegaConf.create({}))
    assert pipeline.status is RunStatus.FAILED
