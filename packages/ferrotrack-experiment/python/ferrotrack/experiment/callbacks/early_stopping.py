"""``EarlyStopping``: stops training when a metric has stopped improving."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from ferrotrack.experiment.callbacks.callback import Callback, named_metrics
from ferrotrack.experiment.common import METRIC_NAMES, Metric
from ferrotrack.experiment.errors import ConfigError
from ferrotrack.experiment.pipelines.pipeline import StopTraining
from ferrotrack.experiment.serializable import YAMLSerializable

if TYPE_CHECKING:
    from ferrotrack.experiment.environment import Environment

__all__ = ["EarlyStopping", "metric_name"]


@YAMLSerializable.register("EarlyStopping")
class EarlyStopping(Callback):
    """Stops at the ``patience``-th epoch in a row without an improvement of ``metric``.

    An improvement beats the best value so far by more than ``min_delta_percent`` percent of
    it (lower in ``mode="min"``, higher in ``mode="max"``). ``metric`` is a ``Metric`` name
    in any case (``val_loss``), its store name (``val/loss``) or a ``CUSTOM`` metric's name.
    The stop is a ``StopTraining`` whose reason says which metric and since when.
    """

    def __init__(
        self,
        env: Environment | None = None,
        metric: Metric | str = "val_loss",
        patience: int = 3,
        min_delta_percent: float = 0.0,
        mode: Literal["min", "max"] = "min",
    ) -> None:
        super().__init__(env)
        self.metric = metric_name(metric)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ConfigError(
                f"EarlyStopping: patience must be an int >= 0, got {patience!r}", key="patience"
            )
        if (
            isinstance(min_delta_percent, bool)
            or not isinstance(min_delta_percent, (int, float))
            or not min_delta_percent >= 0
        ):
            raise ConfigError(
                f"EarlyStopping: min_delta_percent must be a number >= 0, "
                f"got {min_delta_percent!r}",
                key="min_delta_percent",
            )
        if mode not in ("min", "max"):
            raise ConfigError(
                f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}", key="mode"
            )
        self.patience = patience
        self.min_delta_percent = float(min_delta_percent)
        self.mode = mode
        self.on_start()

    def on_start(self) -> None:
        """Forgets the previous run's best value."""
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0

    def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> StopTraining | None:
        named = named_metrics(metrics, untracked=True)
        if self.metric not in named:
            raise ConfigError(
                f"EarlyStopping watches {self.metric!r}, which the metrics of epoch "
                f"{epoch_idx} lack (they have: {', '.join(sorted(named)) or 'none'})",
                key="metric",
            )
        value = float(named[self.metric])
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch_idx, 0
            return None
        self.wait += 1
        if self.wait < self.patience:
            return None
        return StopTraining(
            f"EarlyStopping: {self.metric} did not improve for {self.wait} epochs "
            f"(best {self.best!r} at epoch {self.best_epoch}, mode {self.mode}, "
            f"min_delta_percent {self.min_delta_percent})"
        )

    def _improves(self, value: float) -> bool:
        if math.isnan(value):
            return False
        best = self.best
        if best is None:
            return True
        margin = abs(best) * self.min_delta_percent / 100.0
        if self.mode == "min":
            return value < best - margin
        return value > best + margin


def metric_name(metric: Metric | str) -> str:
    """The store name a watched metric has in ``epoch_metrics``: ``Metric.VAL_LOSS``,
    ``"val_loss"``, ``"VAL_LOSS"`` and ``"val/loss"`` are all ``val/loss``; another string
    is a ``CUSTOM`` (or plain-string) metric's own name."""
    if isinstance(metric, Metric):
        name = METRIC_NAMES.get(metric)
        if name is None:
            raise ConfigError(
                f"EarlyStopping cannot watch {metric.name}: it is not a scalar metric; use "
                f"one of {', '.join(m.name.lower() for m in METRIC_NAMES)} or a custom name",
                key="metric",
            )
        return name
    if not isinstance(metric, str) or not metric:
        raise ConfigError(
            f"EarlyStopping: metric must be a metric name, got {metric!r}", key="metric"
        )
    member = Metric.__members__.get(metric.upper())
    if member is not None and member in METRIC_NAMES:
        return METRIC_NAMES[member]
    return metric
