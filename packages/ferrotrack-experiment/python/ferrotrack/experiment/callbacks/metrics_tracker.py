"""``MetricsTracker``: the epoch-by-epoch progression as ``<workspace>/metrics.csv``.

One row per epoch (``epoch`` then each tracked metric's store name); a metric first seen in
a later epoch adds a column (the file is rewritten once, earlier rows empty there). The file
is kept current after every epoch, so a crash leaves the epochs done so far, and it becomes
a run artifact when the pipeline ends.
"""

from __future__ import annotations

import csv
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.experiment.callbacks.callback import Callback, named_metrics
from ferrotrack.experiment.common import Level
from ferrotrack.experiment.errors import ConfigError
from ferrotrack.experiment.serializable import YAMLSerializable

if TYPE_CHECKING:
    from ferrotrack.experiment.environment import Environment

__all__ = ["MetricsTracker"]

FILE_NAME = "metrics.csv"


@YAMLSerializable.register("MetricsTracker")
class MetricsTracker(Callback):
    """Writes each epoch's scalar metrics to ``metrics.csv`` in the environment's workspace."""

    def __init__(self, env: Environment | None = None) -> None:
        super().__init__(env)
        self.rows: list[dict[str, Any]] = []
        self.columns: list[str] = ["epoch"]

    @property
    def path(self) -> Path:
        """``<workspace>/metrics.csv``."""
        if self.env is None:
            raise ConfigError(
                "MetricsTracker has no environment: build it through a pipeline "
                "(register_callback or the pipeline's callbacks config)"
            )
        return Path(self.env.workspace) / FILE_NAME

    def on_start(self) -> None:
        """Starts an empty table (a header-only file)."""
        self.rows = []
        self.columns = ["epoch"]
        self._rewrite()

    def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> None:
        row: dict[str, Any] = {"epoch": epoch_idx}
        for name, value in named_metrics(metrics).items():
            scalar = _scalar(value)
            if scalar is not None:
                row[name] = scalar
        self.rows.append(row)
        new = [name for name in row if name not in self.columns]
        if new:
            self.columns.extend(new)
            self._rewrite()
        else:
            with self.path.open("a", newline="", encoding="utf-8") as out:
                csv.DictWriter(out, self.columns).writerow(row)

    def on_end(self, metrics: dict[Any, Any]) -> None:
        """Logs the file as an artifact of the run (type ``metrics_csv``)."""
        path = self.path
        if not path.exists():
            self._rewrite()
        assert self.env is not None
        self.env.tracker_manager.on_add_artifact(Level.PIPELINE, path, "metrics_csv")

    def _rewrite(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)


def _scalar(value: Any) -> float | int | None:
    """A number for the table (a 0-d array or tensor via ``.item()``); else None."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        try:
            found = item()
        except (TypeError, ValueError, RuntimeError):
            return None
        return found if isinstance(found, (int, float)) else None
    return None
