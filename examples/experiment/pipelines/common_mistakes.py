"""Seed 001, "Common Mistakes to Avoid": the four blocks, each run to show what it does here.

1. ``run`` without ``@Pipeline.run_wrapper``: ``Experiment.create`` refuses a config naming
   that class, before anything runs, with a ``PipelineError`` naming it
   (``configs/missing_decorator``).
2. ``run`` that only tracks directly: works; its point is ``train/loss`` with no step given
   (the metric's own counter), and no ``epoch/...`` series.
3. A plain string key (``mistakes_metric_keys.py``): ``"train_loss"`` is stored under that
   name, beside ``train/loss`` from ``Metric.TRAIN_LOSS``: two series for one quantity,
   which is why the guide calls it wrong.
4. An epoch loop without the epoch lifecycle (``mistakes_epoch_loop.py``): runs, but records
   no ``level_start``/``level_end`` epoch events and no ``epoch/...`` metrics.

Blocks 1 and 2 are top-level functions named ``run``; each is taken by a pipeline class right
after it (context). Blocks 3 and 4 are loop fragments (``self``, ``loss``, ``epochs`` come
from around them): ``FragmentsPipeline`` runs each file with those names as its globals.

Run: ``python examples/experiment/pipelines/common_mistakes.py``.
"""

# fmt: off
# ruff: noqa: I001
# mypy: disable-error-code="no-untyped-def, has-type, assignment, no-redef"
import runpy
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ferrotrack.experiment import Experiment, Metric, Pipeline, PipelineError
from ferrotrack.experiment import YAMLSerializable

HERE = Path(__file__).parent

def run(self, config: DictConfig):  # Missing decorator!
    # This will not properly integrate with the framework
    pass


@YAMLSerializable.register("MissingDecoratorPipeline")
class MissingDecoratorPipeline(Pipeline):
    """Context: mistake 1 as a pipeline; the factory refuses it."""

    run = run


@Pipeline.run_wrapper
def run(self, config: DictConfig):
    loss = 0.5
    # Only tracking directly, metrics won't be captured by all trackers
    self.env.tracker_manager.track(Metric.TRAIN_LOSS, loss)


@YAMLSerializable.register("DirectTrackingOnlyPipeline")
class DirectTrackingOnlyPipeline(Pipeline):
    """Context: mistake 2 as a pipeline."""

    run = run


@YAMLSerializable.register("FragmentsPipeline")
class FragmentsPipeline(Pipeline):
    """Context: runs mistakes 3 and 4 (loop fragments) with the names they use."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> dict[str, Any]:
        epochs = int(config.pipeline.epochs)
        runpy.run_path(str(HERE / "mistakes_metric_keys.py"),
                       init_globals={"self": self, "loss": 0.5})
        runpy.run_path(str(HERE / "mistakes_epoch_loop.py"),
                       init_globals={"self": self, "epochs": epochs})
        return {"epochs": epochs}

    def train_one_epoch(self) -> float:
        """What mistake 4's loop calls: one made-up epoch."""
        self.epochs_trained = getattr(self, "epochs_trained", 0) + 1
        return 1.0 / self.epochs_trained


if __name__ == "__main__":
    try:
        Experiment.create(HERE / "configs" / "missing_decorator")
    except PipelineError as exc:
        print(f"refused: {exc}")
    experiment = Experiment.create(HERE / "configs" / "common_mistakes")
    outcome = experiment.run()
    print(experiment.results().select("trial", "repeat", "status"))
