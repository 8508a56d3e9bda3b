"""Starting a run (``start_run``) and joining one from another process (``attach_run``).

Every argument is checked before anything is created, so a refused call leaves no folder
behind; if opening fails later (a rank in use, a plugin that cannot start), a folder this
call created is removed again. The run is registered as active only once it is fully open.
"""

from __future__ import annotations

import contextlib
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
from ferrotrack.core.params import normalize
from ferrotrack.core.records import RunInfo
from ferrotrack.core.run import RUN_DIR_ENV, Durability, Run, apply_tags, check_tags
from ferrotrack.core.settings import tracking_defaults
from ferrotrack.core.store import layout, process
from ferrotrack.core.store.jsonfile import read_json

if TYPE_CHECKING:
    from ferrotrack.core.plugins.manager import PluginSpec
    from ferrotrack.core.settings import FerrotrackSettings

__all__ = ["MAX_RANK", "attach_run", "start_run"]

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
MAX_RANK = (1 << 20) - 1
"""The highest rank a process may claim."""


# --- checking arguments (nothing is created before all of them pass) ----------------------


def _check_rank(rank: object, where: str) -> int | None:
    if rank is None:
        return None
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= MAX_RANK:
        raise InvalidArgumentError(
            f"{where}: expected an int rank from 0 to {MAX_RANK}, got {rank!r}"
        )
    return rank


def _rank_from_env() -> int | None:
    for var in ("FERROTRACK_RANK", "RANK", "LOCAL_RANK"):
        value = os.environ.get(var)
        if value:
            try:
                number = int(value)
            except ValueError:
                raise InvalidArgumentError(f"${var}={value!r} is not an integer rank") from None
            return _check_rank(number, f"${var}")
    return None


def _check_run_id(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not (isinstance(value, str) and _RUN_ID.match(value)):
        raise InvalidArgumentError(
            f"{where} {value!r}: expected 1-128 characters of letters, digits, '_', '.', '-'"
        )
    return value


def _check_plugins(value: object, where: str) -> Sequence[PluginSpec] | None:
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidArgumentError(
            f"{where}: expected a list of plugin names or instances, got {value!r}"
        )
    return value


# --- opening the store ------------------------------------------------------------------------


def _open_writer(
    run_dir: Path, rank: int | None, flush_interval: float, durability: Durability
) -> _native.MetricWriter:
    """The run's writer on ``rank`` (``None``: the lowest free rank from 1); it claims the
    rank itself (``writer.rank`` says which) and gives it back when closed."""
    return _native.MetricWriter(
        run_dir, rank=rank, flush_interval=flush_interval, durability=durability
    )


def _discard(run_dir: Path) -> None:
    """Removes a run folder this call created, and its experiment folder if left empty."""
    shutil.rmtree(run_dir, ignore_errors=True)
    with contextlib.suppress(OSError):
        run_dir.parent.rmdir()


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
    frameworks: Sequence[PluginSpec] | None = None,
    settings: FerrotrackSettings | None = None,
) -> Run:
    """Starts (or with ``resume=True`` continues) a run and makes it the active run.

    >>> with start_run("base", experiment="cifar10", params={"lr": 1e-3}) as run:  # doctest: +SKIP
    ...     for step in range(1000):
    ...         run.log("train/loss", 1 / (step + 1), step)

    ``root``, ``flush_interval`` and ``durability`` default to the settings
    (``FERROTRACK_*`` variables, then ``ferrotrack.toml`` / ``[tool.ferrotrack]``), read on
    every call. ``backends``, ``collectors`` and ``frameworks`` take plugin names or
    configured instances; without them, those named by the settings are used. Tag values
    are stored as strings; a tag ``None`` is not set (and deletes it on resume).
    """
    if name is not None and not isinstance(name, str):
        raise InvalidArgumentError(f"name: expected a str or None, got {type(name).__name__}")
    layout.validate_experiment(experiment)
    delta = normalize(params or {}, "start_run: params") if params is not None else {}
    tag_delta = check_tags(tags, "start_run") if tags is not None else {}
    rid = _check_run_id(run_id, "run_id")
    if not isinstance(resume, bool):
        raise InvalidArgumentError(f"resume: expected True or False, got {resume!r}")
    if resume and rid is None:
        raise InvalidArgumentError("resume=True needs the run_id of the run to continue")
    parent_id = _check_run_id(parent.run_id if isinstance(parent, Run) else parent, "parent")
    rank = _check_rank(rank, "rank")
    rank = _rank_from_env() if rank is None else rank
    plugin_args = (
        _check_plugins(backends, "backends"),
        _check_plugins(collectors, "collectors"),
        _check_plugins(frameworks, "frameworks"),
    )
    if settings is not None:
        root = settings.root if root is None else root
        flush_interval = settings.flush_interval if flush_interval is None else flush_interval
        durability = settings.durability if durability is None else durability
    defaults = tracking_defaults(root=root, flush_interval=flush_interval, durability=durability)
    wants_plugins = (
        settings is not None
        or any(plugin_args)
        or any((defaults.backends, defaults.collectors, defaults.frameworks, defaults.processors))
    )
    base = defaults.root
    rid = rid or layout.new_run_id()
    rdir = layout.run_dir(base, experiment, rid)
    exists = (rdir / "run.json").exists()
    if resume and not exists:
        raise RunNotFoundError(f"no run {rid} in experiment {experiment!r} under {base} to resume")
    if exists and not resume:
        raise RunExistsError(
            f"run {rid} already exists in {rdir.parent}; pass resume=True to continue it"
        )
    if wants_plugins and settings is None:
        from ferrotrack.core.settings import FerrotrackSettings

        settings = FerrotrackSettings()

    created = not rdir.exists()
    try:
        rdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreWriteError(
            e.errno, f"cannot create the run folder {rdir}: {e.strerror or e}"
        ) from e
    try:
        run = _open(
            name,
            experiment=experiment,
            base=base,
            rdir=rdir,
            rid=rid,
            resumed=exists,
            parent=parent_id,
            params=delta,
            tags=tag_delta,
            rank=0 if rank is None else rank,
            flush_interval=defaults.flush_interval,
            durability=defaults.durability,
            plugins=(*plugin_args, settings) if wants_plugins else None,
        )
    except BaseException:
        if created:
            _discard(rdir)
        raise
    exits.note_start()
    run._sigterm = exits.claim_sigterm()
    active.remember(run)
    return run


def _open(
    name: str | None,
    *,
    experiment: str,
    base: Path,
    rdir: Path,
    rid: str,
    resumed: bool,
    parent: str | None,
    params: dict[str, Any],
    tags: dict[str, str | None],
    rank: int,
    flush_interval: float,
    durability: Durability,
    plugins: tuple[Any, Any, Any, FerrotrackSettings | None] | None,
) -> Run:
    """Opens the writer, writes ``run.json`` and ``params.json``, starts the plugins."""
    writer = _open_writer(rdir, rank, flush_interval, durability)
    rank = writer.rank
    meta: dict[str, Any] | None = None
    if rank == 0:
        host, pid, pid_start = process.current_process()
        meta = read_json(rdir / "run.json") if resumed else {}
        meta.update(
            format_version=_native.FORMAT_VERSION,
            run_id=rid,
            name=name or meta.get("name") or rid[-8:],
            experiment=experiment,
            status="running",
            started=meta.get("started") or time.time_ns(),
            ended=None,
            flush_interval=flush_interval,
            parent=parent if parent is not None else meta.get("parent"),
            tags=apply_tags(meta.get("tags", {}), tags),
            host=host,
            pid=pid,
            pid_start=pid_start,
            error=None,
            signal=None,
        )
    run = Run(
        writer=writer,
        rank=rank,
        root=base,
        run_dir=rdir,
        run_id=rid,
        experiment=experiment,
        name=(meta or {}).get("name") or name or rid[-8:],
        meta=meta,
        params=read_json(rdir / "params.json"),
        durability=durability,
    )
    try:
        if meta is not None:
            run._write_meta()
        if meta is not None or params:
            run._store_params(params)
        if plugins is not None:
            backends, collectors, frameworks, settings = plugins
            _open_plugins(run, backends, collectors, frameworks, settings, resumed=resumed)
    except BaseException:
        writer.close()
        raise
    return run


def _run_info(run: Run, *, resumed: bool) -> RunInfo:
    meta = run._meta or read_json(run.run_dir / "run.json")
    return RunInfo(
        experiment=run.experiment,
        run_id=run.run_id,
        name=run.name,
        run_dir=run.run_dir,
        started=int(meta.get("started") or time.time_ns()),
        status="running",
        parent=meta.get("parent"),
        tags=dict(meta.get("tags") or {}),
        params=run.params,
        rank=run.rank,
        resumed=resumed,
    )


def _open_plugins(
    run: Run,
    backends: Sequence[PluginSpec] | None,
    collectors: Sequence[PluginSpec] | None,
    frameworks: Sequence[PluginSpec] | None,
    settings: FerrotrackSettings | None,
    *,
    resumed: bool,
) -> None:
    """Starts the run's plugins and delivery (raises before the run logs anything)."""
    from ferrotrack.core.delivery.session import PluginSession

    session = PluginSession.open(
        run.run_dir,
        sink=run,
        info=_run_info(run, resumed=resumed),
        backends=backends,
        collectors=collectors,
        frameworks=frameworks,
        settings=settings,
    )
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
    rank = _check_rank(rank, "rank")
    rank = _rank_from_env() if rank is None else rank
    meta = read_json(rdir / "run.json")
    interval = meta.get("flush_interval", 1.0)
    writer = _open_writer(
        rdir, rank, float(interval) if isinstance(interval, int | float) else 1.0, "on_close"
    )
    rank = writer.rank
    run_id = rdir.name.removeprefix("run=")
    run = Run(
        writer=writer,
        rank=rank,
        root=rdir.parent.parent,
        run_dir=rdir,
        run_id=run_id,
        experiment=rdir.parent.name.removeprefix("experiment="),
        name=str(meta.get("name", run_id[-8:])),
        meta=None,
        params=read_json(rdir / "params.json"),
    )
    run._sigterm = exits.claim_sigterm()
    active.remember(run)
    return run
