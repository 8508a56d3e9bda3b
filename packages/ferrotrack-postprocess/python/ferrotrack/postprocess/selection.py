"""Which ferrotrack runs a processor reads: the model run's tracked run, or those named."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.errors import RunNotFoundError
from ferrotrack.core.plugins.execution import ModelRun
from ferrotrack.core.store.catalog import RunRef, find_run, iter_run_refs, read_json
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.postprocess.config import RunsConfig

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Selection", "select_runs"]


@dataclass(frozen=True)
class Selection:
    """The runs chosen, in order, and the store they were looked up in (``None``: the
    settings'). A run is read from its own folder (``refs``), which for the tracked run
    need not be under ``root``."""

    root: Path | None
    refs: tuple[RunRef, ...]

    @property
    def run_ids(self) -> list[str]:
        """The ids of the chosen runs, in order."""
        return [ref.run_id for ref in self.refs]

    def frame(self) -> pl.DataFrame:
        """``experiment`` and ``run_id`` columns, as ``ferrotrack.core.metrics(runs=)`` takes."""
        import polars as pl

        return pl.DataFrame(
            {
                "experiment": [r.experiment for r in self.refs],
                "run_id": [r.run_id for r in self.refs],
            },
            schema={"experiment": pl.String, "run_id": pl.String},
        )

    def points(self, names: list[str] | None = None) -> pl.LazyFrame:
        """Every point of the chosen runs (``ferrotrack.core``'s point columns, rank
        included), read from the runs' own folders: the runs that summary reads too,
        whichever store ``root`` names."""
        import polars as pl

        from ferrotrack.core.analysis.points import scan_segments

        frame = scan_segments(self.refs)
        if names is not None:
            frame = frame.filter(pl.col("name").cast(pl.String).is_in(names))
        return frame

    def labels(self) -> dict[str, str]:
        """A legend label per run id: its name, with its id where names repeat."""
        names = {ref.run_id: _run_name(ref) for ref in self.refs}
        counts: dict[str, int] = {}
        for name in names.values():
            counts[name] = counts.get(name, 0) + 1
        return {
            rid: name if counts[name] == 1 else f"{name} ({rid})" for rid, name in names.items()
        }


def select_runs(model_run: ModelRun, config: RunsConfig) -> Selection:
    """The runs ``config`` names, else the model run's tracked run.

    Raises :class:`RunNotFoundError` when nothing is chosen: no tracked run and no
    ``runs``/``experiment``, an experiment without runs, an id that matches no run.
    """
    tracked: Any = model_run.tracked_run
    root = config.root
    if root is None and tracked is not None:
        root = Path(tracked.root)
    if config.runs is not None:
        refs = [find_run(r, root, experiment=config.experiment) for r in config.runs]
    elif config.experiment is not None:
        refs = list(iter_run_refs(root, experiment=config.experiment))
        if not refs:
            raise RunNotFoundError(
                f"experiment {config.experiment!r} has no runs under {resolve_root(root)}"
            )
    elif tracked is not None:
        refs = [RunRef(tracked.experiment, tracked.run_id, str(tracked.run_dir))]
    else:
        raise RunNotFoundError(
            f"model run {model_run.run_id!r} has no tracked run (it has not run, or ran "
            "untracked): pass runs=[...] or experiment=... to choose ferrotrack runs"
        )
    unique = tuple(dict.fromkeys(refs))
    return Selection(root, unique)


def _run_name(ref: RunRef) -> str:
    name = read_json(ref.path / "run.json").get("name")
    return name if isinstance(name, str) and name else ref.run_id
