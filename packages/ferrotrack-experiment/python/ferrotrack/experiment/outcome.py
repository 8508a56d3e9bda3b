"""What one ``Experiment.run()`` did: a record per trial run, filed by how it ended.

Kept apart from ``Experiment`` so that the code running trials and the code reading the
result share these records without importing the experiment itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ferrotrack.experiment.common import RunStatus

__all__ = ["ExperimentOutcome", "TrialRunOutcome"]


@dataclass(frozen=True)
class TrialRunOutcome:
    """How one repeat of one trial went in one ``run()``."""

    trial: str
    repeat: int
    status: RunStatus
    run_id: str | None
    """The trial-run run (for a skipped one, the earlier run that finished it)."""
    error: str | None = None

    @property
    def label(self) -> str:
        """``<trial>/<repeat>``, the run's name."""
        return f"{self.trial}/{self.repeat}"


@dataclass
class ExperimentOutcome:
    """What ``Experiment.run`` did, trial run by trial run."""

    run_id: str
    """The experiment run."""
    completed: list[TrialRunOutcome] = field(default_factory=list)
    stopped: list[TrialRunOutcome] = field(default_factory=list)
    failed: list[TrialRunOutcome] = field(default_factory=list)
    skipped: list[TrialRunOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No trial run failed."""
        return not self.failed

    @property
    def counts(self) -> dict[str, int]:
        """How many trial runs completed, stopped early, failed, were skipped."""
        return {
            "completed": len(self.completed),
            "stopped": len(self.stopped),
            "failed": len(self.failed),
            "skipped": len(self.skipped),
        }

    def add(self, outcome: TrialRunOutcome) -> None:
        """Files ``outcome`` under its status."""
        {
            RunStatus.COMPLETED: self.completed,
            RunStatus.STOPPED: self.stopped,
            RunStatus.SKIPPED: self.skipped,
        }.get(outcome.status, self.failed).append(outcome)

    def __str__(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.counts.items())
