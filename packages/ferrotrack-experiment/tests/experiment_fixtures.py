"""Helpers the experiment package's tests share: config folders written as YAML files, and
the runs an experiment left in the store, by level.

pytest runs with ``--import-mode=importlib``, so a test puts this folder on ``sys.path``
before ``from experiment_fixtures import ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ferrotrack.core.store.catalog import RunRecord, list_runs

__all__ = ["runs_at", "write_experiment_config", "write_yaml_files"]


def write_yaml_files(folder: Path, **files: Any) -> Path:
    """Writes ``name=data`` as ``name.yaml`` in ``folder`` (made if missing): a str as it
    is, anything else dumped with its keys in the order given."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        text = data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False)
        (folder / f"{name}.yaml").write_text(text)
    return folder


def write_experiment_config(
    folder: Path,
    trials: list[dict[str, Any]],
    experiment: dict[str, Any],
    *,
    env: dict[str, Any] | None = None,
    **files: Any,
) -> Path:
    """A config folder: ``experiment.yaml``, ``trials.yaml``, ``env.yaml`` only when
    ``env`` is given, and any other ``files`` (``base=...``)."""
    if env is not None:
        files["env"] = env
    return write_yaml_files(folder, experiment=experiment, trials=trials, **files)


def runs_at(root: Path, level: str, *, experiment: str | None = None) -> list[RunRecord]:
    """The runs tagged ``ferrotrack.level=level`` under ``root``, oldest first."""
    return sorted(
        (
            r
            for r in list_runs(root, experiment=experiment)
            if r.meta.get("tags", {}).get("ferrotrack.level") == level
        ),
        key=lambda r: r.ref.run_id,
    )
