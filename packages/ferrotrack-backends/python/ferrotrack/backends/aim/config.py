"""Settings of the ``aim`` backend (``backend_configs.aim`` in ferrotrack's settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ferrotrack.core.records import RunInfo

__all__ = ["AimConfig"]


class AimConfig(BaseModel):
    """Which Aim repository the runs go to, and under which experiment.

    One repository per store by default (``<store root>/.aim``), so ``aim up --repo <store
    root>`` shows every run of the store side by side, as Aim users expect.
    """

    model_config = ConfigDict(extra="forbid")

    repo: Path | None = None
    """The folder holding the Aim repository (Aim keeps its data in ``<repo>/.aim``); a
    relative path is taken from the store's root. Default: the store's root."""
    experiment: str | None = None
    """The Aim experiment; default the run's experiment."""
    index: bool = True
    """Add the run to the repository's index when its final status is delivered, so that
    ``aim.Repo(path).iter_runs()`` and ``get_run`` see it at once (Aim 3.29 otherwise waits
    for ``aim up`` or ``aim storage reindex`` to index it)."""

    def resolve_repo(self, info: RunInfo) -> Path:
        """The repository folder for the run ``info`` describes."""
        root = store_root(info.run_dir)
        if self.repo is None:
            return root
        path = self.repo.expanduser()
        return path if path.is_absolute() else root / path

    def resolve_experiment(self, info: RunInfo) -> str:
        """The Aim experiment of the run."""
        return self.experiment or info.experiment


def store_root(run_dir: Path) -> Path:
    """The store's root of a run folder (``<root>/experiment=<e>/run=<id>``)."""
    run_dir = Path(run_dir).absolute()
    if run_dir.name.startswith("run=") and run_dir.parent.name.startswith("experiment="):
        return run_dir.parent.parent
    return run_dir
