"""Where a model run's outputs are, and where a processor writes its own files."""

from __future__ import annotations

import os
from pathlib import Path

from ferrotrack.core.plugins.execution import ModelRun

__all__ = ["POSTPROCESS_FOLDER", "dest_folder", "list_outputs", "model_folder"]

POSTPROCESS_FOLDER = "postprocess"
"""The subfolder of a model run's folder that holds what processors write."""


def model_folder(model_run: ModelRun) -> Path:
    """``Path(output_dir) / run_id``: seed 003's folder of one model run."""
    return Path(os.fspath(model_run.output_dir)) / model_run.run_id


def dest_folder(model_run: ModelRun, processor: str, dest: Path | None) -> Path:
    """``dest``, or ``<model folder>/postprocess/<processor>``."""
    return dest if dest is not None else model_folder(model_run) / POSTPROCESS_FOLDER / processor


def list_outputs(folder: Path) -> list[dict[str, object]]:
    """Every file under ``folder`` but the processors' own (``postprocess/``): relative
    POSIX path and size in bytes, sorted by path. ``[]`` when the folder does not exist."""
    found: list[dict[str, object]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        if here == folder and POSTPROCESS_FOLDER in dirnames:
            dirnames.remove(POSTPROCESS_FOLDER)
        for filename in filenames:
            path = here / filename
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # removed while listing
                continue
            found.append({"path": path.relative_to(folder).as_posix(), "bytes": size})
    return sorted(found, key=lambda f: str(f["path"]))
