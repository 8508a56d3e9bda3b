"""The run store on disk: where runs live, how they are named, who writes them."""

from __future__ import annotations

from ferrotrack.core.store.layout import (
    DEFAULT_ROOT,
    experiment_dir,
    new_run_id,
    resolve_root,
    run_dir,
    validate_experiment,
)

__all__ = [
    "DEFAULT_ROOT",
    "experiment_dir",
    "new_run_id",
    "resolve_root",
    "run_dir",
    "validate_experiment",
]
