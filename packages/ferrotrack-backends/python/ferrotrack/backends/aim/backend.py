"""The ``aim`` backend: one Aim run per ferrotrack run, found again through its hash.

The Aim run's hash is kept in the backend's state, so a resume and ``ferrotrack sync`` write
to the same Aim run. Aim keeps one value per step of a metric and context, so a retried
batch overwrites what it wrote: delivering twice leaves the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.aim.config import AimConfig
from ferrotrack.backends.aim.tags import tags_after
from ferrotrack.core.errors import PermanentBackendError
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType
from ferrotrack.core.plugins.arrow import name_codes
from ferrotrack.core.plugins.imports import require

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["AimBackend", "index_run"]

INSTALL = "pip install ferrotrack-backends[aim]"
STATE_KEY = "aim_run_hash"
"""The key of the Aim run's hash in the backend's state."""

_log = logging.getLogger("ferrotrack.backends.aim")


class AimBackend(BackendPlugin):
    """Mirrors a run into an Aim repository: ``hparams``, tags, every point (``track``),
    the status in ``run["ferrotrack"]`` (see ``docs/backends/aim.md``)."""

    config: AimConfig

    def __init__(self) -> None:
        super().__init__()
        self._run: Any = None
        self._repo_path: Path | None = None
        self._info: RunInfo | None = None
        self._params: dict[str, Any] = {}

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``aim``."""
        from ferrotrack.backends import __version__

        return PluginMetadata(
            name="aim",
            version=__version__,
            type=PluginType.BACKEND,
            description="Mirror runs into a local Aim repository (aim up shows them).",
            author="ferrotrack",
            dependencies=["aim"],
            extra="aim",
            capabilities=frozenset({"metrics", "params", "tags", "status"}),
            config_model=AimConfig,
        )

    @property
    def run_hash(self) -> str | None:
        """The Aim run's hash, once open (still known once closed)."""
        return self._last_hash if self._run is None else str(self._run.hash)

    @property
    def repo_path(self) -> Path | None:
        """The Aim repository's folder (its data is in ``<folder>/.aim``), once open."""
        return self._repo_path

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Opens the Aim run of the state (or a new one, whose hash goes into the state),
        then writes the whole params and tags."""
        require("aim", "the aim backend", install=INSTALL)
        from aim.sdk.errors import MissingRunError
        from aim.sdk.run import Run

        self.config = config = self.config if self.config is not None else AimConfig()
        if info.rank is not None and info.rank > 0:
            raise PermanentBackendError(
                f"backend 'aim' writes run {info.run_id} from one process only (rank 0 or "
                f"`ferrotrack sync`; Aim locks a run to its writer): rank {info.rank}'s points "
                f"reach Aim with `ferrotrack sync {info.run_id} --backend aim` after the run"
            )
        self._close_run()
        repo = config.resolve_repo(info)
        self._info, self._repo_path = info, repo
        known = state.get(STATE_KEY)
        options: dict[str, Any] = {
            "repo": str(repo),
            "experiment": config.resolve_experiment(info),
            "system_tracking_interval": None,
            "log_system_params": False,
            "capture_terminal_logs": False,
        }
        try:
            try:
                run = Run(known, **options)
            except MissingRunError:
                _log.warning(
                    "backend 'aim': the Aim run %s of run %s is not in %s any more; a new Aim "
                    "run gets what is delivered from now on (delete the run's sync/aim/ folder "
                    "and run `ferrotrack sync %s --backend aim` to send it whole)",
                    known,
                    info.run_id,
                    repo,
                    info.run_id,
                )
                run = Run(None, **options)
        except Exception as err:
            raise self._open_error(info, repo, err) from err
        self._run = run
        self._last_hash = state[STATE_KEY] = str(run.hash)
        run.name = info.name
        run["ferrotrack"] = {
            "run_id": info.run_id,
            "experiment": info.experiment,
            "run_dir": str(info.run_dir),
            "status": info.status,
            "parent": info.parent,
        }
        self._params = {}
        if info.params:
            self.log_params(info.params)
        self.set_tags(dict(info.tags))

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """``run.track`` per point (Aim has no bulk call); rank ``r > 0`` goes in the
        context ``{"rank": r}``. NaN and infinities are kept (Aim stores them as such)."""
        run = self._require_run()
        if batch.num_rows == 0:
            return
        names, codes = name_codes(batch)
        steps = batch.column("step").to_numpy(zero_copy_only=False).tolist()
        values = batch.column("value").to_numpy(zero_copy_only=False).tolist()
        context: dict[str, Any] = {"rank": int(rank)} if rank > 0 else {}
        track = run.track
        for code, step, value in zip(codes.tolist(), steps, values, strict=True):
            track(value, name=names[code], step=step, context=context)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """A batch without its rank (a direct call) is taken as rank 0's."""
        self.handle_points(batch, 0)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merged into ``run["hparams"]``, nested as logged (the whole params are written
        each time: reading them back from a run being written gives Aim's type examples)."""
        run = self._require_run()
        self._params = _merge(self._params, params)
        run["hparams"] = self._params

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """Aim tags ``key:value`` (``key`` alone when the value is empty); a deleted key's
        tag is removed."""
        run = self._require_run()
        add, drop = tags_after(list(run.tags), tags)
        for name in sorted(drop):
            run.remove_tag(name)
        for name in sorted(add):
            run.add_tag(name)

    def log_event(self, event: RunEvent) -> None:
        """Nothing: Aim has no event log a run's events map to (the store keeps them)."""

    def set_status(self, status: str) -> None:
        """``run["ferrotrack"]["status"]``; a final status also indexes the run (see
        :attr:`AimConfig.index`) once the run is closed."""
        run = self._require_run()
        run.set(("ferrotrack", "status"), status, strict=False)
        if status != "running":
            self._close_run(index=self.config.index)

    def flush(self) -> None:
        """Nothing to push: Aim writes as it tracks; :meth:`stop` closes the run."""

    def stop(self) -> None:
        """Closes the Aim run (releases its lock)."""
        self._close_run()
        super().stop()

    def _require_run(self) -> Any:
        if self._run is None:
            info = self._info
            if info is not None and self._repo_path is not None:
                # a final status closed it; a later item (a sync's extra params) reopens it
                state: dict[str, Any] = {STATE_KEY: self._last_hash} if self._last_hash else {}
                params = self._params
                self.open_run(info, state)
                if params != self._params:
                    self.log_params(params)
                return self._run
            raise RuntimeError("backend 'aim': an item came before open_run")
        return self._run

    _last_hash: str | None = None

    def _close_run(self, *, index: bool = False) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        self._last_hash = str(run.hash)
        run.close()
        if index and self._repo_path is not None:
            try:
                index_run(self._repo_path, self._last_hash)
            except Exception as err:  # the data is written; only Aim's index lags
                _log.info(
                    "backend 'aim': could not index Aim run %s (%s); `aim up` indexes it",
                    self._last_hash,
                    err,
                )

    def _open_error(self, info: RunInfo, repo: Path, err: Exception) -> Exception:
        """An error naming the backend, the run, the repository and what to do; delivery
        retries it, then marks the backend degraded (the store keeps every point)."""
        reason = f"{type(err).__name__}: {err}"
        hint = (
            f"close the other writer (`aim runs --repo {repo} close --force HASH`)"
            if type(err).__name__ == "RunLockingError"
            else "make the folder writable or set backend_configs.aim.repo"
        )
        return OSError(
            f"backend 'aim' cannot open an Aim run for run {info.run_id} in {repo} ({reason}): "
            f"{hint}, then run `ferrotrack sync {info.run_id} --backend aim`"
        )


def index_run(repo: str | Path, run_hash: str) -> None:
    """Adds a closed Aim run to its repository's index, as ``aim up`` does, so that
    ``aim.Repo(repo).iter_runs()`` and ``get_run`` see it."""
    from aim.sdk.index_manager import RepoIndexManager
    from aim.sdk.repo import Repo

    RepoIndexManager.get_index_manager(Repo.from_path(str(repo))).index(run_hash)


def _merge(base: dict[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """``delta`` merged into ``base`` key by key, nested mappings merged too."""
    out = dict(base)
    for key, value in delta.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = dict(value) if isinstance(value, Mapping) else value
    return out
