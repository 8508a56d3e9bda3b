"""Finding an experiment's earlier runs in the store, for resume, ``status`` and ``results``.

An experiment leaves three levels of runs, told apart by their tags: the experiment run
(``ferrotrack.level=experiment``), one trial run per trial (``trial``, parent the experiment
run) and one run per attempt at a repeat of a trial (``trial_run``, parent the trial run,
with ``ferrotrack.trial`` and ``ferrotrack.repeat``). Only the latest experiment run counts:
an earlier one is a finished experiment that a fresh ``run()`` did not continue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ferrotrack.core.store.catalog import RunRecord, list_runs

__all__ = [
    "CONFIG_HASH_TAG",
    "LEVEL_TAG",
    "OUTCOME_TAG",
    "REPEAT_TAG",
    "SEED_TAG",
    "STOP_REASON_TAG",
    "TRIAL_TAG",
    "State",
    "StoredExperiment",
    "find_experiment",
    "state_of",
    "tags_of",
]

LEVEL_TAG: Final = "ferrotrack.level"
TRIAL_TAG: Final = "ferrotrack.trial"
REPEAT_TAG: Final = "ferrotrack.repeat"
SEED_TAG: Final = "ferrotrack.seed"
OUTCOME_TAG: Final = "ferrotrack.outcome"
"""``completed``, ``stopped`` or ``failed``: how the pipeline ended (an early stop is a
``finished`` run in the store, so the status alone cannot say it)."""
STOP_REASON_TAG: Final = "ferrotrack.stop_reason"
CONFIG_HASH_TAG: Final = "ferrotrack.config_hash"
"""A stable hash of the trial run's resolved params: a resume skips a finished trial run
only while it matches (an older run without it counts as matching)."""

State = Literal["done", "failed", "stopped", "running", "pending"]


def state_of(record: RunRecord | None) -> State:
    """What a trial run's latest attempt means for resume: ``done`` and ``stopped`` are kept,
    ``failed`` (failed, killed or crashed) is run again, ``pending`` was never started."""
    if record is None:
        return "pending"
    if record.status == "running":
        return "running"
    if record.status == "finished":
        return "stopped" if _tags(record).get(OUTCOME_TAG) == "stopped" else "done"
    return "failed"


@dataclass(frozen=True)
class StoredExperiment:
    """The latest experiment run of an experiment and the runs under it."""

    run: RunRecord | None
    """The latest experiment run, or ``None`` when the experiment never ran."""
    trials: dict[str, RunRecord] = field(default_factory=dict)
    """The trial run of each trial name (the newest one if there are several)."""
    attempts: dict[tuple[str, int], list[RunRecord]] = field(default_factory=dict)
    """Every run of each ``(trial, repeat)``, oldest first: the last is the one that counts."""

    def latest(self, trial: str, repeat: int) -> RunRecord | None:
        """The newest attempt at ``repeat`` of ``trial``, or ``None``."""
        found = self.attempts.get((trial, repeat))
        return found[-1] if found else None


def find_experiment(root: str | os.PathLike[str], experiment: str) -> StoredExperiment:
    """Reads the store once and sorts the runs of ``experiment`` into its levels.

    Runs are ordered by id, which is time-sortable, so "latest" needs no clock.
    """
    records = sorted(list_runs(root, experiment=experiment), key=lambda r: r.ref.run_id)
    tops = [r for r in records if _tags(r).get(LEVEL_TAG) == "experiment"]
    if not tops:
        return StoredExperiment(None)
    top = tops[-1]
    trials: dict[str, RunRecord] = {}
    for record in records:
        tags = _tags(record)
        if tags.get(LEVEL_TAG) == "trial" and record.meta.get("parent") == top.ref.run_id:
            name = tags.get(TRIAL_TAG)
            if isinstance(name, str):
                trials[name] = record  # sorted by id: the newest wins
    trial_ids = {r.ref.run_id for r in trials.values()}
    attempts: dict[tuple[str, int], list[RunRecord]] = {}
    for record in records:
        tags = _tags(record)
        if tags.get(LEVEL_TAG) != "trial_run" or record.meta.get("parent") not in trial_ids:
            continue
        name, repeat = tags.get(TRIAL_TAG), _int(tags.get(REPEAT_TAG))
        if isinstance(name, str) and repeat is not None:
            attempts.setdefault((name, repeat), []).append(record)
    return StoredExperiment(top, trials, attempts)


def tags_of(record: RunRecord) -> Mapping[str, Any]:
    """The run's tags (empty when run.json has none)."""
    tags = record.meta.get("tags")
    return tags if isinstance(tags, Mapping) else {}


_tags = tags_of


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
