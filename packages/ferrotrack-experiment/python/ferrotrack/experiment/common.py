"""The words every part of an experiment shares: ``Level``, ``Metric`` and ``RunStatus``.

``Metric`` keys become metric names in the store through ``METRIC_NAMES`` (one table, so the
docs, the trackers and the analysis agree on ``Metric.TRAIN_LOSS`` being ``train/loss``).
Keys without a name there are objects handed to callbacks and never persisted.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Final, Literal

__all__ = [
    "METRIC_NAMES",
    "UNTRACKED_METRICS",
    "Level",
    "Metric",
    "RunStatus",
    "store_status",
]


class Level(IntEnum):
    """Where in an experiment something happens; each level nests in the one before it."""

    EXPERIMENT = 0
    TRIAL = 1
    TRIAL_RUN = 2
    PIPELINE = 3
    EPOCH = 4
    BATCH = 5

    @property
    def label(self) -> str:
        """The lower-case name used in events, folders and logs (``trial_run``)."""
        return self.name.lower()


class Metric(IntEnum):
    """What a tracked value is. ``CUSTOM`` carries its own name: ``(name, value)`` or a list
    of such pairs. ``CUSTOM_UNTRACKED``, ``NETWORK``, ``DATA``, ``LABELS`` and ``STATUS`` are
    for callbacks only: never written to the store or a backend."""

    EPOCH = 1
    TEST_ACC = 2
    TEST_LOSS = 3
    VAL_ACC = 4
    VAL_LOSS = 5
    TRAIN_ACC = 6
    TRAIN_LOSS = 7
    LEARNING_RATE = 8
    CUSTOM = 9
    NETWORK = 10
    DATA = 11
    LABELS = 12
    STATUS = 13
    CONFUSION = 14
    CUSTOM_UNTRACKED = 15


METRIC_NAMES: Final[dict[Metric, str]] = {
    Metric.EPOCH: "epoch",
    Metric.TEST_ACC: "test/acc",
    Metric.TEST_LOSS: "test/loss",
    Metric.VAL_ACC: "val/acc",
    Metric.VAL_LOSS: "val/loss",
    Metric.TRAIN_ACC: "train/acc",
    Metric.TRAIN_LOSS: "train/loss",
    Metric.LEARNING_RATE: "lr",
}
"""The store name of each scalar metric key. ``CUSTOM`` pairs keep their own names and
``CONFUSION`` becomes a ``confusion`` run event (a matrix is not a scalar)."""

UNTRACKED_METRICS: Final[frozenset[Metric]] = frozenset(
    {Metric.CUSTOM_UNTRACKED, Metric.NETWORK, Metric.DATA, Metric.LABELS, Metric.STATUS}
)
"""Keys that are objects for callbacks: never persisted anywhere."""


class RunStatus(Enum):
    """How a trial run (or one epoch of it) ended. ``SUCCESS`` and ``FINISHED``, which the
    Experiment Manager's guides return, mean ``COMPLETED``."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    ABORTED = "aborted"
    SKIPPED = "skipped"
    SUCCESS = "completed"
    FINISHED = "completed"


def store_status(status: RunStatus) -> Literal["finished", "failed", "killed"]:
    """The status a ferrotrack run records for ``status``: an early stop is a finished run
    (its ``ferrotrack.outcome`` tag says ``stopped``), an abort a killed one."""
    if status is RunStatus.FAILED:
        return "failed"
    if status is RunStatus.ABORTED:
        return "killed"
    return "finished"
