"""The ``wandb`` backend: mirrors a run into one W&B run (offline files or a server).

The W&B run id is kept in the backend's state, so a resume or ``ferrotrack sync`` writes
the same W&B run (``resume="allow"``), never a second one. Points become history rows, one
``log`` call per step (:mod:`~ferrotrack.backends.wandb.rows`), each row carrying its
ferrotrack step under ``ferrotrack/step``, which is declared the x-axis of every metric:
W&B's own ``_step`` only counts rows and only goes up, so rows may arrive in any step order
(other ranks, a sync after a resume) and none is dropped. ``_step`` itself continues from the
state across resumes, so the offline files of one run never overlap.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.wandb.config import STEP_METRIC, WandbConfig, project_name, safe_url
from ferrotrack.backends.wandb.rows import history_rows
from ferrotrack.core.errors import PermanentBackendError
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType
from ferrotrack.core.plugins.imports import require

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.records import RunInfo

__all__ = ["EXIT_CODES", "INSTALL", "WandbBackend"]

_log = logging.getLogger("ferrotrack.backends.wandb")

INSTALL = "pip install ferrotrack-backends[wandb]"

EXIT_CODES = {"finished": 0, "failed": 1, "crashed": 1, "killed": 130}
"""The W&B exit code of each final status (W&B shows 0 as finished, others as failed);
``killed`` also marks the run preempting, as a stopped job that may resume."""

_TAG_MAX = 64
_SERVICE = threading.Lock()
"""Held while a run finishes and the wandb service is shut down if no run is left."""


class WandbBackend(BackendPlugin):
    """Mirrors a run into a W&B run: config (params), tags, history, summary, exit code
    (see ``docs/backends/wandb.md``)."""

    config: WandbConfig

    def __init__(self) -> None:
        super().__init__()
        self._run: Any = None
        self._run_id = ""
        self._rank: int | None = 0
        self._kept: dict[str, Any] = {}
        self._next_step: int | None = None
        self._params: dict[str, Any] = {}
        self._tags: dict[str, str] = {}
        self._parent: str | None = None
        self._experiment = ""
        self._last: dict[str, tuple[int, float]] = {}
        self._status: str | None = None
        self._warned: set[str] = set()
        self._refused = 0
        self._rows = 0
        self._folder: Path | None = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``wandb``."""
        from ferrotrack.backends import __version__

        return PluginMetadata(
            name="wandb",
            version=__version__,
            type=PluginType.BACKEND,
            description="Mirror runs into Weights & Biases (offline files or a W&B server).",
            author="ferrotrack",
            dependencies=["wandb"],
            extra="wandb",
            capabilities=frozenset({"metrics", "params", "tags", "status"}),
            config_model=WandbConfig,
        )

    @property
    def wandb_run(self) -> Any:
        """The open ``wandb.Run`` (``None`` before ``open_run`` and after the end)."""
        return self._run

    @property
    def folder(self) -> Path | None:
        """The folder wandb writes this run's files into (``.../wandb/offline-run-…``)."""
        return self._folder

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Starts (or resumes) the W&B run whose id is in ``state``; the first time, the
        ferrotrack run id becomes the W&B run id and is kept there."""
        config = self.config if self.config is not None else WandbConfig()
        self.config = config
        self._end(None)
        wandb = require("wandb", "the W&B backend", install=INSTALL)
        mode = config.resolved_mode()
        shared = config.shared and mode == "online"
        self._run_id, self._rank = info.run_id, info.rank
        if info.rank not in (None, 0) and not shared:
            raise PermanentBackendError(
                f"backend 'wandb': run {info.run_id}, rank {info.rank}: a W&B run takes one "
                "writing process unless it is shared; this rank's points stay in the store. "
                f"Run `ferrotrack sync {info.run_id} --backend wandb` after the run, or set "
                "backend_configs.wandb.mode = 'online' and shared = true"
            )
        root = config.resolve_dir(info)
        self._check_writable(root)
        wandb_id = str(state.get("wandb_run_id") or _wandb_id(info.run_id))
        project = config.project or state.get("wandb_project") or project_name(info.experiment)
        self._params = _merge({}, info.params)
        self._tags = dict(info.tags)
        self._parent, self._experiment = info.parent, info.experiment
        secret = config.api_key.get_secret_value() if config.api_key is not None else None
        try:
            settings = wandb.Settings(**self._settings(mode, shared, info.rank, secret))
            run = wandb.init(
                id=wandb_id,
                project=project,
                entity=config.entity,
                dir=str(root),
                name=info.name,
                config=self._config_payload(),
                tags=self._wandb_tags(),
                group=info.parent,
                job_type=config.job_type,
                resume="allow",
                settings=settings,
            )
        except Exception as exc:
            raise self._open_error(exc, mode, secret) from None
        self._run = run
        self._folder = Path(run.settings.sync_dir) if run.settings.sync_dir else None
        state["wandb_run_id"] = wandb_id
        state["wandb_project"] = project
        if config.entity:
            state["wandb_entity"] = config.entity
        self._kept = state
        run.define_metric(STEP_METRIC)
        run.define_metric("*", step_metric=STEP_METRIC)
        self._next_step = None if shared else max(int(state.get("wandb_step", 0)), run.step)

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """One ``log`` call per row (see :mod:`~ferrotrack.backends.wandb.rows`); a retry
        of the same batch logs its rows at the same W&B steps, which W&B then ignores."""
        run = self._require_run()
        built = history_rows(batch, STEP_METRIC)
        for name, (count, reason) in built.refused.items():
            self._refused += count
            self._warn(
                f"name:{name}",
                "backend 'wandb': run %s: metric %r is not mirrored (%s); its %d points stay "
                "in the store. Rename it for this backend (a `rename` processor in "
                "routing) and run `ferrotrack sync RUN --backend wandb`",
                self._run_id,
                name,
                reason,
                count,
            )
        start = self._next_step
        try:
            for row in built.rows:
                if self._next_step is None:
                    run.log(row, commit=True)
                else:
                    run.log(row, step=self._next_step, commit=True)
                    self._next_step += 1
        except Exception:
            self._next_step = start
            raise
        self._rows += len(built.rows)
        if self._next_step is not None:
            self._kept["wandb_step"] = self._next_step
        for name, (step, value) in built.last.items():
            seen = self._last.get(name)
            if seen is None or step >= seen[0]:
                self._last[name] = (step, value)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """A batch without its rank (a direct call) is taken as rank 0's."""
        self.handle_points(batch, 0)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Merges the delta into the W&B config (nested keys keep their siblings)."""
        run = self._require_run()
        self._params = _merge(self._params, params)
        run.config.update({k: self._params[k] for k in params}, allow_val_change=True)

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """Applies the delta; W&B tags are ``key:value`` labels (``key`` when the value is
        empty), and the whole mapping is also in the config under ``ferrotrack.tags``."""
        run = self._require_run()
        for key, value in tags.items():
            if value is None:
                self._tags.pop(key, None)
            else:
                self._tags[key] = value
        run.tags = tuple(self._wandb_tags())
        run.config.update({"ferrotrack": self._meta()}, allow_val_change=True)

    def set_status(self, status: str) -> None:
        """A final status writes the summary (each metric's value at its last step, and
        ``ferrotrack/status``) and finishes the W&B run with the status's exit code."""
        if status == "running":
            return
        self._end(status)

    def flush(self) -> None:
        """Finishes the W&B run, so everything is in its file (or on the server); a run
        without a final status is left preempting (W&B expects it to resume)."""
        self._end(None)

    def stop(self) -> None:
        """Finishes the W&B run if still open and shuts the wandb service down when no
        other W&B run of this process is open."""
        try:
            self._end(None)
        finally:
            _teardown_if_idle()
            super().stop()

    def get_status(self) -> dict[str, Any]:
        """Adds the W&B run id, rows logged and points refused (names W&B cannot take)."""
        status = super().get_status()
        status.update(
            wandb_run_id=self._kept.get("wandb_run_id"),
            rows_logged=self._rows,
            points_refused=self._refused,
        )
        return status

    # ---- helpers ------------------------------------------------------------------------

    def _settings(
        self, mode: str, shared: bool, rank: int | None, secret: str | None
    ) -> dict[str, Any]:
        """wandb settings: quiet, no console capture, no system stats or code saving (the
        mirror runs on a worker thread; ferrotrack's collectors measure the machine)."""
        config = self.config
        values: dict[str, Any] = {
            "mode": "shared" if shared else mode,
            "init_timeout": config.init_timeout,
            "reinit": "create_new",
            "console": "off",
            "silent": True,
            "quiet": True,
            "save_code": False,
            "disable_git": True,
            "x_disable_stats": True,
            "x_disable_machine_info": True,
            "x_disable_meta": True,
            "x_save_requirements": False,
        }
        if secret is not None:
            values["api_key"] = secret
        if config.base_url:
            values["base_url"] = config.base_url
        if shared:
            primary = rank in (None, 0)
            values.update(
                x_label=f"rank-{0 if rank is None else rank}",
                x_primary=primary,
                x_update_finish_state=primary,
            )
        return values

    def _config_payload(self) -> dict[str, Any]:
        return {**self._params, "ferrotrack": self._meta()}

    def _meta(self) -> dict[str, Any]:
        """What W&B gets of ferrotrack's own identity (read back by the importer)."""
        meta: dict[str, Any] = {
            "run_id": self._run_id,
            "experiment": self._experiment,
            "tags": dict(self._tags),
        }
        if self._parent:
            meta["parent"] = self._parent
        return meta

    def _wandb_tags(self) -> list[str]:
        """``key:value`` labels; one longer than W&B's 64 characters is left out (warned
        once; it stays in the config's ``ferrotrack.tags``)."""
        out = []
        for key, value in sorted(self._tags.items()):
            label = f"{key}:{value}" if value else key
            if 1 <= len(label) <= _TAG_MAX:
                out.append(label)
            else:
                self._warn(
                    f"tag:{key}",
                    "backend 'wandb': run %s: tag %r is longer than W&B's %d characters as "
                    "a label; it is kept in the W&B config under ferrotrack.tags only",
                    self._run_id,
                    key,
                    _TAG_MAX,
                )
        return out

    def _end(self, status: str | None) -> None:
        """Writes the summary and finishes the open W&B run (once)."""
        run, self._run = self._run, None
        if run is None:
            return
        self._status = status
        with _SERVICE:
            try:
                if status is not None:
                    summary: dict[str, Any] = {k: v for k, (_, v) in self._last.items()}
                    summary["ferrotrack/status"] = status
                    run.summary.update(summary)
                if self._rank not in (None, 0):  # a shared run's worker: state is rank 0's
                    run.finish(exit_code=0)
                    return
                if status is None or status == "killed":
                    run.mark_preempting()
                run.finish(exit_code=EXIT_CODES.get(status or "", 1))
            except Exception:
                self._run = run  # a retry (delivery's) finishes it
                raise
        self._wait_written(run)

    def _wait_written(self, run: Any) -> None:
        """Waits until the offline file holds the exit record: ``finish()`` returns
        before wandb-core has written it all, and a flushed mirror must be whole on disk
        (for ``wandb sync``, or a reader, right after the run)."""
        from ferrotrack.backends.wandb.records import has_exit_record

        if self.config.resolved_mode() != "offline" or not run.settings.sync_file:
            return
        path = Path(run.settings.sync_file)
        deadline = time.monotonic() + max(30.0, self.config.init_timeout)
        while not has_exit_record(path):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"backend 'wandb': run {self._run_id}: wandb has not finished writing "
                    f"{path} after {max(30.0, self.config.init_timeout):.0f}s; the store keeps "
                    f"every point: `ferrotrack sync {self._run_id} --backend wandb` writes it again"
                )
            time.sleep(0.02)

    def _require_run(self) -> Any:
        if self._run is None:
            raise RuntimeError(f"backend 'wandb': run {self._run_id}: no W&B run is open")
        return self._run

    def _check_writable(self, root: Path) -> None:
        """wandb falls back to a temporary folder when ``dir`` is not writable: the files
        would be lost, so refuse it here with what to do."""
        folder = root / "wandb"
        probe = folder / f".ferrotrack-probe-{threading.get_ident()}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            reason = err.strerror or type(err).__name__
            raise OSError(
                err.errno,
                f"backend 'wandb': run {self._run_id}: cannot write W&B files in {folder} "
                f"({reason}): make it writable or set backend_configs.wandb.dir, then run "
                f"`ferrotrack sync {self._run_id} --backend wandb`",
            ) from None

    def _open_error(self, exc: Exception, mode: str, secret: str | None) -> Exception:
        """A message naming the backend, the run and what to do, with no secret in it;
        the W&B error's own text (cleaned) says why. Permanent: each attempt can take
        ``init_timeout``, so delivery gives up at once and ``ferrotrack sync`` fills later."""
        reason = _clean(f"{type(exc).__name__}: {exc}", secret)
        where = safe_url(self.config.base_url)
        text = reason.lower()
        if "api key" in text or "api_key" in text or "401" in text or "unauthorized" in text:
            todo = (
                "set a valid key in WANDB_API_KEY or backend_configs.wandb.api_key "
                "(or mode = 'offline')"
            )
        elif mode == "online":
            todo = (
                f"check that {where} is reachable (backend_configs.wandb.base_url, "
                "init_timeout) or use mode = 'offline'"
            )
        else:
            todo = "check the wandb installation and backend_configs.wandb"
        return PermanentBackendError(
            f"backend 'wandb': run {self._run_id}: wandb.init failed ({mode}, {where}): "
            f"{reason}; {todo}. The store keeps every point: "
            f"`ferrotrack sync {self._run_id} --backend wandb` fills W&B later"
        )

    def _warn(self, key: str, message: str, *args: Any) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        _log.warning(message, *args)


_WANDB_ID_MAX = 64


def _wandb_id(run_id: str) -> str:
    """A W&B run id from a ferrotrack run id (W&B takes up to 64 letters, digits, ``_``
    and ``-``). An id W&B takes as is stays; any other (longer, or with ``.``) is cut and
    given a hash of the whole id, so two runs never share a W&B run: cutting alone would
    merge ids sharing 64 characters, replacing ``.`` would merge ``a.b`` and ``a-b``."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "-", run_id)
    if clean == run_id and 0 < len(run_id) <= _WANDB_ID_MAX:
        return run_id
    digest = hashlib.sha1(run_id.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{clean[: _WANDB_ID_MAX - 13]}-{digest}"


def _merge(base: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``delta`` merged in, nested dicts key by key."""
    out = dict(base)
    for key, value in delta.items():
        old = out.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            out[key] = _merge(old, value)
        else:
            out[key] = dict(value) if isinstance(value, Mapping) else value
    return out


def _clean(text: str, secret: str | None) -> str:
    """``text`` on one line, shortened, without ``secret`` or echoed inputs."""
    if secret:
        for part in {secret, secret.strip()}:
            if len(part) >= 4:
                text = text.replace(part, "***")
    text = re.sub(r"input_value=.*?(?=, input_type=|\]|$)", "input_value=***", text)
    text = re.sub(r"//[^/@\s]*@", "//***@", text)
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:397] + "..."


def _teardown_if_idle() -> None:
    """Shuts the wandb service process down when this process has no open W&B run left
    (the user's own runs included), so no ``wandb-core`` outlives the mirrors."""
    import sys

    if "wandb" not in sys.modules:
        return
    with _SERVICE:
        from wandb.sdk import wandb_setup

        singleton = getattr(wandb_setup, "_singleton", None)
        if singleton is None or singleton.most_recent_active_run is not None:
            return
        import wandb

        wandb.teardown()
