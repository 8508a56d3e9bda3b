"""A tiny LightningModule and Trainer for the Lightning tests: random tensors, CPU, seconds."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, TensorDataset


class TinyModel(pl.LightningModule):
    """A linear regression that logs with ``self.log`` and ``self.log_dict``."""

    def __init__(self, lr: float = 0.05, hidden: int = 4, note: str = "tiny") -> None:
        super().__init__()
        self.save_hyperparameters()
        self.layer = torch.nn.Sequential(
            torch.nn.Linear(3, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        self.log("train/loss", loss)
        self.log_dict({"train/twice": loss * 2, "train/batch": float(batch_idx)})
        self.log("train/hidden", loss, logger=False)  # logger=False: never recorded
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.hparams["lr"])


def loader(batches: int = 5, seed: int = 0) -> DataLoader[tuple[torch.Tensor, ...]]:
    """``batches`` batches of 4 random rows."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batches * 4, 3, generator=generator)
    y = x.sum(dim=1, keepdim=True)
    return DataLoader(TensorDataset(x, y), batch_size=4)


def trainer(logger: Any = False, *, epochs: int = 1, **kwargs: Any) -> pl.Trainer:
    """A quiet CPU trainer of ``epochs`` epochs of 5 batches, logging every step."""
    options: dict[str, Any] = {
        "max_epochs": epochs,
        "limit_train_batches": 5,
        "limit_val_batches": 2,
        "accelerator": "cpu",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
        "logger": logger,
        "enable_checkpointing": False,
    }
    options.update(kwargs)
    return pl.Trainer(**options)
