"""``CheckpointCallback``: saves the network every ``interval`` epochs as a run artifact.

The network is ``epoch_metrics[Metric.NETWORK]``. With torch importable and a network that
has a ``state_dict``, its ``state_dict`` is saved with ``torch.save`` (``.pt``, what
``model.load_state_dict(torch.load(path))`` reads back); otherwise the object is pickled
(``.pkl``). The tracker manager's ``on_checkpoint`` then makes the file an artifact and
records a ``checkpoint`` event with the epoch's metrics.
"""

from __future__ import annotations

import functools
import importlib
import os
import pickle
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ferrotrack.experiment.callbacks.callback import Callback
from ferrotrack.experiment.common import UNTRACKED_METRICS, Metric
from ferrotrack.experiment.errors import ConfigError
from ferrotrack.experiment.serializable import YAMLSerializable

if TYPE_CHECKING:
    from ferrotrack.experiment.environment import Environment

__all__ = ["CheckpointCallback", "save_network"]


@YAMLSerializable.register("CheckpointCallback")
class CheckpointCallback(Callback):
    """Saves ``Metric.NETWORK`` after every ``interval``-th epoch of a run (the ``interval``-th,
    ``2 * interval``-th... epoch seen), into the environment's ``checkpoint_dir``."""

    def __init__(self, env: Environment | None = None, interval: int = 1) -> None:
        super().__init__(env)
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ConfigError(
                f"CheckpointCallback: interval must be an int >= 1, got {interval!r}",
                key="interval",
            )
        self.interval = interval
        self.saved: list[Path] = []
        self._seen = 0
        self._warned = False

    def on_start(self) -> None:
        """Counts epochs from this run's first."""
        self.saved = []
        self._seen = 0
        self._warned = False

    def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> None:
        self._seen += 1
        if self._seen % self.interval:
            return None
        network = metrics.get(Metric.NETWORK)
        if network is None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"CheckpointCallback: epoch {epoch_idx} has no Metric.NETWORK in its "
                    f"epoch_metrics, nothing to save (warned once per run)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return None
        env = self.env
        if env is None:
            raise ConfigError(
                "CheckpointCallback has no environment: build it through a pipeline "
                "(register_callback or the pipeline's callbacks config)"
            )
        path = save_network(network, Path(env.checkpoint_dir) / f"epoch_{epoch_idx}")
        self.saved.append(path)
        tracked = {k: v for k, v in metrics.items() if k not in UNTRACKED_METRICS}
        env.tracker_manager.on_checkpoint(network, path, tracked, step=epoch_idx)
        return None


def save_network(network: Any, stem: Path) -> Path:
    """Saves ``network`` at ``stem`` plus ``.pt`` (torch ``state_dict``) or ``.pkl`` (pickle);
    returns the path. The file appears whole or not at all (written aside, then renamed)."""
    torch = _torch()
    state_dict = getattr(network, "state_dict", None)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if torch is not None and callable(state_dict):
        path = stem.with_name(stem.name + ".pt")
        partial = path.with_name(path.name + ".partial")
        torch.save(state_dict(), partial)
    else:
        path = stem.with_name(stem.name + ".pkl")
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            pickle.dump(network, out, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)
    return path


@functools.cache
def _torch() -> ModuleType | None:
    """torch when it can be imported (looked up once: a failed import is slow to repeat)."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        return None
