"""Finding a run's folder from the id the browser sends, without listing the whole store."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ferrotrack.core.errors import InvalidArgumentError, RunNotFoundError
from ferrotrack.core.store.catalog import RunRef, find_run
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.ui.errors import NotFound

__all__ = ["locate_run"]

_FULL_ID = re.compile(r"^[0-9a-f]{32}$")


def locate_run(root: str | os.PathLike[str], run_id: str) -> RunRef:
    """The run ``run_id`` names: a full id is looked up per experiment folder (a stat each),
    anything else (a prefix, a name, ``experiment/id``) through core's :func:`find_run`.
    Raises :class:`NotFound` with the reason (not naming the store's folder: a client of
    the server has no business knowing it)."""
    base = resolve_root(root)
    if _FULL_ID.match(run_id):
        try:
            entries = list(os.scandir(base))
        except FileNotFoundError:
            entries = []
        for entry in entries:
            if entry.name.startswith("experiment="):
                folder = os.path.join(entry.path, f"run={run_id}")
                if os.path.isdir(folder):
                    return RunRef(entry.name[len("experiment=") :], run_id, folder)
        raise NotFound(f"no run {run_id!r} in this store")
    try:
        return find_run(run_id, base)
    except (RunNotFoundError, InvalidArgumentError) as exc:  # the store's path stays private
        raise NotFound(str(exc).replace(f" under {base}", " in this store")) from None


def run_folder(root: str | os.PathLike[str], run_id: str) -> Path:
    """The folder of :func:`locate_run`'s run."""
    return Path(locate_run(root, run_id).folder)
