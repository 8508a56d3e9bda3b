"""The ``clearml`` backend: one ClearML task per ferrotrack run, offline by default.

ClearML has one task per process (``Task.init``'s main task), so one run per process is
mirrored at a time; the task id is kept in the backend's state, so a resume and
``ferrotrack sync`` continue the same task (offline: the same session folder).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ferrotrack.backends.clearml.config import ClearmlConfig, safe_host
from ferrotrack.backends.clearml.mapping import flat_params, scalar_names, tags_after
from ferrotrack.core.errors import PermanentBackendError
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType
from ferrotrack.core.plugins.arrow import name_codes
from ferrotrack.core.plugins.imports import require

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["ClearmlBackend"]

INSTALL = "pip install ferrotrack-backends[clearml]"
STATE_KEY = "clearml_task_id"
"""The key of the ClearML task id in the backend's state."""
PROPERTIES = "properties"
"""ClearML's section of user properties, where the run's identity and status go."""

_NO_FRAMEWORKS = dict.fromkeys(
    [
        *("matplotlib", "tensorflow", "tensorboard", "pytorch", "xgboost", "scikit"),
        *("fastai", "lightgbm", "hydra", "detect_repository", "tfdefines", "joblib"),
        *("megengine", "catboost", "gradio"),
    ],
    False,
)
"""Every framework binding of ``Task.init`` off, and no repository (git, script) capture."""

_log = logging.getLogger("ferrotrack.backends.clearml")
_owner_lock = threading.Lock()
_owner: ClearmlBackend | None = None
"""The backend holding this process's ClearML task (ClearML has one per process)."""


class ClearmlBackend(BackendPlugin):
    """Mirrors a run as a ClearML task: hyperparameters, tags, every finite point as a
    scalar (``train/loss``: title ``train``, series ``loss``), the status, artifacts and
    events as log lines (see ``docs/backends/clearml.md``)."""

    config: ClearmlConfig

    def __init__(self) -> None:
        super().__init__()
        self._task: Any = None
        self._info: RunInfo | None = None
        self._restore: dict[str, Any] = {}
        self._skipped = 0
        self._warned_nonfinite = False

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``clearml``."""
        from ferrotrack.backends import __version__

        return PluginMetadata(
            name="clearml",
            version=__version__,
            type=PluginType.BACKEND,
            description="Mirror runs as ClearML tasks (an offline session by default).",
            author="ferrotrack",
            dependencies=["clearml"],
            extra="clearml",
            capabilities=frozenset({"metrics", "params", "tags", "artifacts", "events", "status"}),
            config_model=ClearmlConfig,
        )

    @property
    def task(self) -> Any:
        """The ClearML task, once open."""
        return self._task

    @property
    def session_folder(self) -> Path | None:
        """The offline session's folder (``None`` online or before ``open_run``)."""
        if self._task is None or not self.config.is_offline:
            return None
        folder = self._task.get_offline_mode_folder()
        return None if folder is None else Path(folder)

    @property
    def skipped_nonfinite(self) -> int:
        """Points not sent because their value was NaN or infinite (the store keeps them)."""
        return self._skipped

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Starts the ClearML task (continuing the one of the state, if any) and writes the
        run's identity, whole params and tags."""
        require("clearml", "the clearml backend", install=INSTALL)
        from clearml import Task

        self.config = config = self.config if self.config is not None else ClearmlConfig()
        if info.rank is not None and info.rank > 0:
            raise PermanentBackendError(
                f"backend 'clearml' writes run {info.run_id} from one process only (rank 0 or "
                "`ferrotrack sync`; ClearML has one task per process): rank "
                f"{info.rank}'s points reach ClearML with "
                f"`ferrotrack sync {info.run_id} --backend clearml` after the run"
            )
        self._close_task()
        self._claim(info)
        try:
            known = state.get(STATE_KEY)
            current: Any = Task.current_task()
            if current is not None:
                raise PermanentBackendError(
                    f"backend 'clearml' cannot mirror run {info.run_id}: this process already "
                    f"has a ClearML task ({current.id}) and ClearML allows one; close it, or "
                    f"run `ferrotrack sync {info.run_id} --backend clearml` from another process"
                )
            if not config.is_offline:
                self._check_server(info)
            self._task = self._init_task(Task, info, known)
        except BaseException:
            self._release()
            raise
        self._info = info
        if known and self._task.id != known:
            _log.warning(
                "backend 'clearml': the ClearML task %s of run %s could not be continued (its "
                "offline session is gone?); task %s gets what is delivered from now on "
                "(delete the run's sync/clearml/ folder and run `ferrotrack sync %s --backend "
                "clearml` to send it whole)",
                known,
                info.run_id,
                self._task.id,
                info.run_id,
            )
        state[STATE_KEY] = str(self._task.id)
        self._task.set_user_properties(
            ferrotrack_run_id=info.run_id,
            ferrotrack_experiment=info.experiment,
            ferrotrack_status=info.status,
        )
        if info.params:
            self.log_params(info.params)
        self.set_tags(dict(info.tags))

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """``report_scalar`` per finite point (ClearML has no bulk call), then a flush that
        waits until ClearML wrote them. Rank ``r > 0`` goes in the series: ``loss [rank r]``.
        NaN and infinities are skipped (ClearML would report them as 0), counted, warned
        about once."""
        import numpy as np

        task = self._require_task()
        if batch.num_rows == 0:
            return
        names, codes = name_codes(batch)
        values = batch.column("value").to_numpy(zero_copy_only=False)
        finite = np.isfinite(values)
        bad = int(finite.size - np.count_nonzero(finite))
        steps = batch.column("step").to_numpy(zero_copy_only=False)
        if bad:
            codes, steps, values = codes[finite], steps[finite], values[finite]
        pairs = scalar_names(names, rank)
        report = task.get_logger().report_scalar
        for code, step, value in zip(codes.tolist(), steps.tolist(), values.tolist(), strict=True):
            title, series = pairs[code]
            report(title, series, value, iteration=step)
        task.get_logger().flush(wait=True)
        if bad:
            self._nonfinite(bad)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """A batch without its rank (a direct call) is taken as rank 0's."""
        self.handle_points(batch, 0)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Hyperparameters in section ``General``, nested keys joined by ``/``
        (``{"model": {"depth": 3}}`` is ``General/model/depth``), as ``Task.connect`` does."""
        flat = flat_params(params)
        if flat:
            self._require_task().update_parameters(flat)

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """ClearML tags ``key:value`` (``key`` alone when the value is empty); a deleted
        key's tag is removed."""
        task = self._require_task()
        current = list(task.get_tags() or [])
        wanted = tags_after(current, tags)
        if wanted != current:
            task.set_tags(wanted)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """``upload_artifact`` (offline: copied into the session's ``data/`` folder)."""
        task = self._require_task()
        if not task.upload_artifact(
            name or path.name, artifact_object=str(path), wait_on_upload=True
        ):
            raise OSError(
                f"backend 'clearml' could not store artifact {path} of run {self._run_id}"
            )

    def log_event(self, event: RunEvent) -> None:
        """A line in the task's console log (ClearML has no event log)."""
        parts = [f"ferrotrack {event.kind}"]
        parts += [f"{k}={v}" for k, v in (("name", event.name), ("level", event.level)) if v]
        if event.step is not None:
            parts.append(f"step={event.step}")
        if event.message:
            parts.append(event.message)
        self._require_task().get_logger().report_text(" ".join(parts), print_console=False)

    def set_status(self, status: str) -> None:
        """The user property ``ferrotrack_status``; a final status also marks the task
        completed, failed or stopped (an offline session carries only the property:
        ``import_offline_session`` marks every imported task completed)."""
        task = self._require_task()
        task.set_user_properties(ferrotrack_status=status)
        if status == "finished":
            task.mark_completed(force=True)
        elif status in ("failed", "crashed"):
            task.mark_failed(force=True, status_reason=f"ferrotrack run {status}")
        elif status == "killed":
            task.mark_stopped(force=True)

    def flush(self) -> None:
        """Waits until ClearML wrote every reported scalar."""
        if self._task is not None:
            self._task.get_logger().flush(wait=True)

    def stop(self) -> None:
        """Closes the task (offline: ClearML zips the session beside its folder) and gives
        ClearML's process-wide settings back."""
        self._close_task()
        super().stop()

    # ---- ClearML's one task per process ------------------------------------------------

    def _claim(self, info: RunInfo) -> None:
        global _owner
        with _owner_lock:
            if _owner is not None and _owner is not self:
                other = _owner._run_id
                raise PermanentBackendError(
                    f"backend 'clearml' cannot mirror run {info.run_id}: this process "
                    f"already mirrors run {other} to ClearML, which has one task per process; "
                    f"run `ferrotrack sync {info.run_id} --backend clearml` once that run ends"
                )
            _owner = self

    def _release(self) -> None:
        global _owner
        with _owner_lock:
            if _owner is self:
                _owner = None

    @property
    def _run_id(self) -> str:
        return self._info.run_id if self._info is not None else "?"

    def _init_task(self, task_cls: Any, info: RunInfo, known: str | None) -> Any:
        """``Task.init`` with nothing captured from the process (no frameworks, argparse,
        streams, resource monitor, repository, random seed) and reporting on threads."""
        config = self.config
        offline = config.is_offline
        self._restore = {
            "offline": task_cls.is_offline(),
            "seed": getattr(task_cls, "_random_seed", None),
            "subprocess": task_cls.__dict__.get("_report_subprocess_enabled", _UNSET),
            "environ": _clearml_environ(),
            "session": _session_defaults(),
        }
        task_cls.set_offline(offline)
        task_cls.set_random_seed(None)
        # Reporting on threads, not in a forked subprocess (a fork of a process with live
        # threads, the store's among them, is unsafe); ClearML's
        # sdk.development.report_use_subprocess setting.
        task_cls._report_subprocess_enabled = False
        if not offline:
            task_cls.set_credentials(
                api_host=config.api_host,
                web_host=config.web_host,
                files_host=config.files_host,
                key=config.access_key.get_secret_value() if config.access_key else None,
                secret=config.secret_key.get_secret_value() if config.secret_key else None,
            )
        cache = config.cache_dir(info) if offline else None
        try:
            if cache is not None:
                _probe(cache / "offline")
            with _cache_dir(cache):
                return task_cls.init(
                    project_name=config.project or info.experiment,
                    task_name=config.task_name or info.name,
                    reuse_last_task_id=known or False,
                    continue_last_task=0 if known else False,
                    output_uri=None,
                    auto_connect_arg_parser=False,
                    auto_connect_frameworks=dict(_NO_FRAMEWORKS),
                    auto_resource_monitoring=False,
                    auto_connect_streams=False,
                )
        except PermanentBackendError:
            self._restore_globals()
            raise
        except Exception as err:
            self._restore_globals()
            if cache is not None:
                where, hint = str(cache), "make the folder writable or set "
                hint += "backend_configs.clearml.offline_folder"
            else:
                where = safe_host(config.api_host) if config.api_host else "ClearML's server"
                hint = "check the server and the credentials in backend_configs.clearml"
            raise OSError(
                f"backend 'clearml' cannot start a ClearML task for run {info.run_id} in "
                f"{where} ({type(err).__name__}: {self._scrub(_first_line(err))}): {hint}, "
                f"then run `ferrotrack sync {info.run_id} --backend clearml`"
            ) from None

    def _scrub(self, text: str) -> str:
        """``text`` without the configured access and secret keys (ClearML's errors may
        quote what was sent)."""
        for secret in (self.config.access_key, self.config.secret_key):
            value = secret.get_secret_value() if secret is not None else ""
            if value:
                text = text.replace(value, "***")
        return text

    def _check_server(self, info: RunInfo) -> None:
        """Fails fast, naming the server (never its credentials), when it does not answer."""
        config = self.config
        if not config.api_host:
            return  # ClearML's own configuration says where the server is
        parts = urlsplit(
            config.api_host if "//" in config.api_host else f"http://{config.api_host}"
        )
        host = parts.hostname or ""
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            with socket.create_connection((host, port), timeout=config.connect_timeout):
                pass
        except (OSError, ValueError) as err:
            reason = getattr(err, "strerror", None) or type(err).__name__
            raise ConnectionError(
                f"backend 'clearml' cannot reach the ClearML server {safe_host(config.api_host)} "
                f"for run {info.run_id} ({reason}): start the server or fix "
                "backend_configs.clearml.api_host (or set offline: true); the store keeps "
                f"every point, `ferrotrack sync {info.run_id} --backend clearml` sends them later"
            ) from None

    def _require_task(self) -> Any:
        if self._task is None:
            raise RuntimeError("backend 'clearml': an item came before open_run")
        return self._task

    def _nonfinite(self, count: int) -> None:
        self._skipped += count
        if not self._warned_nonfinite:
            self._warned_nonfinite = True
            _log.warning(
                "backend 'clearml' skips NaN and infinite values of run %s (ClearML would "
                "report them as 0); the store keeps them (ft.metrics reads them)",
                self._run_id,
            )

    def _close_task(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            try:
                task.close()
            finally:
                self._restore_globals()
                self._release()

    def _restore_globals(self) -> None:
        from clearml import Task

        restore, self._restore = self._restore, {}
        if not restore:
            return
        if Task.is_offline() != restore["offline"]:
            try:
                Task.set_offline(restore["offline"])
            except Exception as err:  # online without a clearml.conf: ClearML refuses
                _log.debug("backend 'clearml': ClearML stays offline (%s)", _first_line(err))
        Task.set_random_seed(restore["seed"])
        if restore["subprocess"] is _UNSET:
            with suppress(AttributeError):
                del Task._report_subprocess_enabled
        else:
            Task._report_subprocess_enabled = restore["subprocess"]
        # Last: set_offline and set_credentials write ClearML's variables (the secret key
        # among them) into os.environ, which every child process would inherit.
        _set_session_defaults(restore["session"])
        _set_clearml_environ(restore["environ"])


_UNSET = object()
_ENV_PREFIXES = ("CLEARML_", "TRAINS_")
_SESSION_DEFAULTS = (
    "default_host",
    "default_web",
    "default_files",
    "default_key",
    "default_secret",
)
"""What ``Task.set_credentials`` changes on ClearML's ``Session`` class."""


def _clearml_environ() -> dict[str, str]:
    """ClearML's variables of the process (``set_credentials`` and ``set_offline`` write
    ``CLEARML_*`` and ``TRAINS_*`` ones)."""
    return {k: v for k, v in os.environ.items() if k.startswith(_ENV_PREFIXES)}


def _set_clearml_environ(before: Mapping[str, str]) -> None:
    """ClearML's variables exactly as ``before``: added ones removed, changed ones back."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) and name not in before:
            del os.environ[name]
    os.environ.update(before)


def _session_defaults() -> dict[str, Any]:
    from clearml.backend_api import Session

    return {name: getattr(Session, name, None) for name in _SESSION_DEFAULTS}


def _set_session_defaults(before: Mapping[str, Any]) -> None:
    from clearml.backend_api import Session

    for name, value in before.items():
        setattr(Session, name, value)


@contextmanager
def _cache_dir(path: Path | None) -> Iterator[None]:
    """``CLEARML_CACHE_DIR`` set while the task starts: ClearML places the offline session
    under it (``<cache>/offline/<task id>``) and keeps that folder for the task's life."""
    if path is None:
        yield
        return
    name = "CLEARML_CACHE_DIR"
    before = os.environ.get(name)
    os.environ[name] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _probe(folder: Path) -> None:
    """Creates ``folder`` and checks a file can be written in it (ClearML's reporter would
    only log a failed write, on its own thread)."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".ferrotrack-probe-{os.getpid()}"
    probe.write_bytes(b"")
    probe.unlink()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else ""
