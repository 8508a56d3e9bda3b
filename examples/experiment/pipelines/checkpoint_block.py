"""Seed 001, "Checkpoint Management": the guide's block, exactly, as a module of its own.

The block is a fragment of a training loop: ``self``, ``epoch``, ``checkpoint_interval``,
``current_loss``, ``current_accuracy`` and ``torch`` come from the loop around it.
``checkpoint_demo.py`` runs this file once per epoch with those names given as its globals
(``runpy.run_path(..., init_globals=...)``), from the trial run's workspace, where the
block's relative ``checkpoints/`` path then lands.
"""

# fmt: off
# ruff: noqa: F821
# mypy: ignore-errors
from ferrotrack.experiment import Metric

# During training
if epoch % checkpoint_interval == 0:
    checkpoint_path = f"checkpoints/epoch_{epoch}.pth"

    # Save actual model if you have one
    if hasattr(self, 'model'):
        torch.save(self.model.state_dict(), checkpoint_path)

    # Record checkpoint with metrics
    self.env.tracker_manager.on_checkpoint(
        network=self.model if hasattr(self, 'model') else None,
        checkpoint_path=checkpoint_path,
        metrics={
            Metric.TRAIN_LOSS: current_loss,
            Metric.TRAIN_ACC: current_accuracy,
            "epoch": epoch
        }
    )
