"""A real 2-process DDP fit on CPU (gloo), run as a script by test_lightning_ranks.py.

Lightning's launcher starts rank 1 by running this script again. Two loggers are attached:
one with ``per_rank=True`` (experiment ``per-rank``) and one in the default rank-0 mode
(experiment ``rank-zero``); then a second fit with a new per_rank logger
(``per-rank-second``). Usage: ``python lightning_ddp.py <store root>``.
"""

from __future__ import annotations

import sys

import torch
from lightning_models import TinyModel, loader, trainer

from ferrotrack.frameworks.lightning import FerrotrackLogger


class RankModel(TinyModel):
    def training_step(self, batch: object, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        self.log(f"rank{self.global_rank}/seen", float(batch_idx))
        return loss


def main(root: str) -> None:
    loggers = [
        FerrotrackLogger("per-rank", root=root, per_rank=True),
        FerrotrackLogger("rank-zero", root=root),
    ]
    fit = trainer(
        loggers,
        strategy="ddp",
        devices=2,
        limit_train_batches=3,
        limit_val_batches=0,
        use_distributed_sampler=True,
    )
    fit.fit(RankModel(), loader(batches=6))
    print(f"rank {fit.global_rank} ids {[lg.version for lg in loggers]}", flush=True)
    # a second fit in the same script, as a sweep does: Lightning does not start rank 1 again
    second = FerrotrackLogger("per-rank-second", root=root, per_rank=True)
    again = trainer(second, strategy="ddp", devices=2, limit_train_batches=2, limit_val_batches=0)
    again.fit(RankModel(), loader(batches=4))


if __name__ == "__main__":
    main(sys.argv[1])
