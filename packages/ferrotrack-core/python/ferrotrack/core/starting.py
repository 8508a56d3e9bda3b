"""Starting a run (``start_run``) and joining one from another process (``attach_run``).

Everything a run needs is checked before anything is created, so a refused call leaves no
folder behind; the run is registered as active only once it is fully open.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core import _native, active, exits
from ferrotrack.core.errors import (
    InvalidArgumentError,
    RunExistsError,
    RunNotFoundError,
    StoreWriteError,
)
from ferrotrack.core.run import RUN_DIR_ENV, Durability, Run
from ferrotrack.core.store import layout, process
from ferrotrack.core.store.jsonfile import read_json
from ferrotrack.core.store.ranks import RankClaim, claim_free_rank, claim_rank

if TYPE_CHECKING:
    from ferrotrack.core.plugins.manager import PluginSpec
    from ferrotrack.core.settings import FerrotrackSettings

__all__ = ["attach_run", "start_run"]

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def _rank_from_env() -> int | None:
    for var in ("FERROTRACK_RANK", "RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value:
            try:
                return int(value)
            except ValueError:
                raise InvalidArgumentError(f"${var}={value!r} is not an integer rank") from None
    return None


def _open_writer(
    run_dir: Path, claim: RankClaim, flush_interval: float, durability: Durability
) -> _native.MetricWriter:
    try:
        return _native.MetricWriter(
            run_dir, rank=claim.rank, flush_interval=flush_interval, durability=durability
        )
    except BaseException:
        claim.release()
        raise


def start_run(
    name: str | None = None,
    *,
    experiment: str = "default",
    root: str | os.PathLike[str] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    resume: bool = False,
    parent: str | Run | None = None,
    flush_interval: float | None = None,
    durability: Durability | None = None,
    rank: int | None = None,
    backends: Sequence[PluginSpec] | None = None,
    collectors: Sequence[PluginSpec] | None = None,
    settings: FerrotrackSettings | None = None,
) -> Run:
    """Starts (or with ``resume=True`` continues) a run and makes it the active run.

    >>> with start_run("base", experiment="cifar10", params={"lr": 1e-3}) as run:  # doctest: +SKIP
    ...     for step in range(1000):
    ...         run.log("train/loss", 1 / (step + 1), step)

    ``backends`` and ``collectors`` take plugin names or configured instances; without
    them, those named by the settings (``FERROTRACK_*`` variables, ``ferrotrack.toml``,
    ``[tool.ferrotrack]``) are used. Arguments given here win over the settings.
    """
    if settings is None and (backends or collectors or _settings_may_exist()):
        from ferrotrack.core.settings import FerrotrackSettings

        settings = FerrotrackSettings()
    if settings is not None:
        root = settings.root if root is None else root
        flush_interval = settings.flush_interval if flush_interval is None else flush_interval
        durability = settings.durability if durability is None else durability
    return _start(
        name,
        experiment=experiment,
        root=layout.resolve_root(root),
        params=params,
        tags=tags,
        run_id=run_id,
        resume=resume,
        parent=parent.run_id if isinstance(parent, Run) else parent,
        flush_interval=1.0 if flush_interval is None else flush_interval,
        durability="on_close" if durability is None else durability,
        rank=rank,
        plugins=(backends, collectors, settings) if settings is not None else None,
    )


def _start(
    name: str | None,
    *,
    experiment: str,
    root: Path,
    params: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
    run_id: str | None,
    resume: bool,
    parent: str | None,
    flush_interval: float,
    durability: Durability,
    rank: int | None,
    plugins: tuple[Sequence[PluginSpec] | None, Sequence[PluginSpec] | None, FerrotrackSettings]
    | None,
) -> Run:
    base = root
    layout.validate_experiment(experiment)
    if run_id is not None and not (isinstance(run_id, str) and _RUN_ID.match(run_id)):
        raise InvalidArgumentError(
            f"run_id {run_id!r}: expected 1-128 characters of letters, digits, '_', '.', '-'"
        )
    if resume and run_id is None:
        raise InvalidArgumentError("resume=True needs the run_id of the run to continue")
    if not (isinstance(flush_interval, int | float) and flush_interval > 0):
        raise InvalidArgumentError(f"flush_interval: expected seconds > 0, got {flush_interval!r}")
    rid = run_id or layout.new_run_id()
    rdir = layout.run_dir(base, experiment, rid)
    exists = (rdir / "run.json").exists()
    if resume and not exists:
        raise RunNotFoundError(f"no run {rid} in experiment {experiment!r} under {base} to resume")
    if exists and not resume:
        raise RunExistsError(
            f"run {rid} already exists in {rdir.parent}; pass resume=True to continue it"
        )

    rank = _rank_from_env() if rank is None else rank
    try:
        rdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreWriteError(
            e.errno, f"cannot create the run folder {rdir}: {e.strerror or e}"
        ) from e
    claim = claim_rank(rdir, rank if rank is not None else 0)
    writer = _open_writer(rdir, claim, float(flush_interval), durability)

    old_params: dict[str, Any] = {}
    if (rdir / "params.json").exists():
        old_params = read_json(rdir / "params.json")
    meta: dict[str, Any] | None = None
    if claim.rank == 0:
        host, pid, pid_start = process.current_process()
        meta = read_json(rdir / "run.json") if exists else {}
        meta.update(
            format_version=_native.FORMAT_VERSION,
            run_id=rid,
            name=name or meta.get("name") or rid[-8:],
            experiment=experiment,
            status="running",
            started=meta.get("started") or time.time_ns(),
            ended=None,
            flush_interval=float(flush_interval),
            parent=parent if parent is not None else meta.get("parent"),
            tags={**meta.get("tags", {}), **{str(k): str(v) for k, v in (tags or {}).items()}},
            host=host,
            pid=pid,
            pid_start=pid_start,
            error=None,
            signal=None,
        )
    run = Run(
        writer=writer,
        claim=claim,
        root=base,
        run_dir=rdir,
        run_id=rid,
        experiment=experiment,
        name=(meta or {}).get("name") or name or rid[-8:],
        meta=meta,
        params=old_params,
    )
    try:
        if meta is not None:
            run._write_meta()
            run.log_params(params or {})
        elif params:
            run.log_params(params)
    except BaseException:
        writer.close()
        claim.release()
        raise
    if plugins is not None:
        backends, collectors, settings = plugins
        if backends or collectors or settings.backends or settings.collectors:
            _open_plugins(run, backends, collectors, settings, created=not exists)
    exits.note_start()
    run._sigterm = exits.claim_sigterm()
    active.remember(run)
    return run


def _settings_may_exist() -> bool:
    """A cheap look for plugin settings, so that runs without plugins never load pydantic."""
    if any(os.environ.get(f"FERROTRACK_{k}") for k in ("BACKENDS", "COLLECTORS")):
        return True
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "ferrotrack.toml").is_file():
            return True
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            try:
                return "[tool.ferrotrack" in pyproject.read_text(encoding="utf-8")
            except OSError:
                return False
    return False


def _open_plugins(
    run: Run,
    backends: Sequence[PluginSpec] | None,
    collectors: Sequence[PluginSpec] | None,
    settings: FerrotrackSettings,
    *,
    created: bool,
) -> None:
    """Starts the run's plugins; if one cannot start, the new run leaves no trace."""
    from ferrotrack.core.delivery.session import PluginSession

    try:
        session = PluginSession.open(
            run.run_dir, sink=run, backends=backends, collectors=collectors, settings=settings
        )
    except BaseException:
        run._writer.close()
        run._claim.release()
        if created:
            shutil.rmtree(run.run_dir, ignore_errors=True)
        raise
    run._connect(session)


def attach_run(run_dir: str | os.PathLike[str], *, rank: int | None = None) -> Run:
    """Logs into an existing run folder from another process, under a rank of its own.

    This is what a child process started with ``$FERROTRACK_RUN_DIR`` does on its first
    ``ferrotrack.core.log(...)``. The rank comes from ``rank=``, ``$FERROTRACK_RANK``,
    ``$RANK`` or ``$LOCAL_RANK``, else the lowest free rank above 0.
    """
    rdir = Path(run_dir)
    if not rdir.is_dir():
        raise RunNotFoundError(f"{RUN_DIR_ENV} or run_dir: {rdir} is not a run folder")
    rank = _rank_from_env() if rank is None else rank
    claim = claim_rank(rdir, rank) if rank is not None else claim_free_rank(rdir)
    meta = read_json(rdir / "run.json") if (rdir / "run.json").exists() else {}
    writer = _open_writer(rdir, claim, float(meta.get("flush_interval", 1.0)), "on_close")
    run_id = rdir.name.removeprefix("run=")
    run = Run(
        writer=writer,
        claim=claim,
        root=rdir.parent.parent,
        run_dir=rdir,
        run_id=run_id,
        experiment=rdir.parent.name.removeprefix("experiment="),
        name=str(meta.get("name", run_id[-8:])),
        meta=None,
        params={},
    )
    run._sigterm = exits.claim_sigterm()
    active.remember(run)
    return run
