"""Turning the ``experiment=`` / ``runs=`` arguments of analysis functions into run folders."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeAlias

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.store.catalog import RunRef, find_run, iter_run_refs
from ferrotrack.core.store.layout import resolve_root

if TYPE_CHECKING:
    import polars as pl

Root: TypeAlias = "str | os.PathLike[str] | None"
Experiments: TypeAlias = "str | Iterable[str] | None"
RunsArg: TypeAlias = "str | Iterable[str] | pl.DataFrame | None"


def select_runs(root: Root, experiment: Experiments, runs: RunsArg) -> list[RunRef]:
    """The run folders chosen by an experiment filter and a list of ids, prefixes or names.

    ``runs`` may also be a DataFrame with a ``run_id`` column (``experiment`` too, if it
    has one), such as a filtered result of :func:`ferrotrack.core.analysis.runs`.
    """
    if runs is None:
        return list(iter_run_refs(root, experiment=experiment))
    if isinstance(runs, str):
        return [find_run(runs, root, experiment=experiment)]
    if not isinstance(runs, Iterable) or hasattr(runs, "get_column"):
        return _from_frame(root, runs)  # type: ignore[arg-type]
    return [find_run(r, root, experiment=experiment) for r in runs]


def _from_frame(root: Root, frame: pl.DataFrame) -> list[RunRef]:
    if "run_id" not in frame.columns:
        raise InvalidArgumentError("runs: a DataFrame needs a 'run_id' column (as runs() gives)")
    base = resolve_root(root)
    ids = frame.get_column("run_id").cast(str).to_list()
    if "experiment" not in frame.columns:
        return [find_run(i, root) for i in ids]
    exps = frame.get_column("experiment").cast(str).to_list()
    return [
        RunRef(e, i, os.path.join(base, f"experiment={e}", f"run={i}"))
        for e, i in zip(exps, ids, strict=True)
    ]
