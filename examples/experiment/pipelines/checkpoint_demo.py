"""Runs seed 001's "Checkpoint Management" block (``checkpoint_block.py``) inside a training
loop: the context the fragment needs.

``torch`` is the real one when installed; otherwise a stand-in whose ``save`` pickles, as
``torch.save`` does underneath. The model is a small object with a ``state_dict()``.
Each checkpoint file becomes an artifact of the trial run (``checkpoints/epoch_<n>.pth``)
with a ``checkpoint`` event carrying the metrics.

Run: ``python examples/experiment/pipelines/checkpoint_demo.py``.
"""

from __future__ import annotations

import contextlib
import pickle
import runpy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from omegaconf import DictConfig

from ferrotrack.experiment import Experiment, Pipeline, RunStatus, YAMLSerializable

BLOCK = Path(__file__).with_name("checkpoint_block.py")


def _pickle_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` without torch: the object pickled to ``path``."""
    with open(path, "wb") as out:
        pickle.dump(obj, out)


try:
    import torch  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    torch = SimpleNamespace(save=_pickle_save)  # type: ignore[assignment, unused-ignore]


class TinyModel:
    """A model with the one method the block calls."""

    def __init__(self) -> None:
        self.weights = [0.0, 0.0]

    def state_dict(self) -> dict[str, list[float]]:
        return {"weights": list(self.weights)}


@YAMLSerializable.register("CheckpointDemoPipeline")
class CheckpointDemoPipeline(Pipeline):
    """Trains ``TinyModel`` for ``epochs`` epochs; the guide's block checkpoints it."""

    model: TinyModel

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        self.model = TinyModel()
        self.checkpoint_interval = int(config.pipeline.checkpoint_interval)
        for epoch in range(int(config.pipeline.epochs)):
            self.run_epoch(epoch)
        return {"epochs": int(config.pipeline.epochs)}

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx: int) -> RunStatus:
        self.model.weights = [w + 0.1 for w in self.model.weights]
        current_loss = 1.0 / (epoch_idx + 1)
        current_accuracy = 1.0 - current_loss / 2
        workspace = Path(self.env.workspace)
        (workspace / "checkpoints").mkdir(parents=True, exist_ok=True)
        with contextlib.chdir(workspace):
            runpy.run_path(
                str(BLOCK),
                init_globals={
                    "self": self,
                    "epoch": epoch_idx,
                    "checkpoint_interval": self.checkpoint_interval,
                    "current_loss": current_loss,
                    "current_accuracy": current_accuracy,
                    "torch": torch,
                },
            )
        return RunStatus.COMPLETED


if __name__ == "__main__":
    experiment = Experiment.create(Path(__file__).parent / "configs" / "checkpoint")
    outcome = experiment.run()
    print(experiment.results().select("trial", "repeat", "status"))
