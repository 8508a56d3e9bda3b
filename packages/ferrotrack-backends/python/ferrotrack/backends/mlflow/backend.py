"""The ``mlflow`` backend: a ferrotrack run mirrored as one MLflow run.

The MLflow run id is kept in the backend's state (``sync/mlflow/state.json``) and as the
tag ``ferrotrack.run_id`` on the MLflow run, so a resume or a ``ferrotrack sync`` writes
to the same MLflow run, never to a second one. Points go through ``log_batch`` in requests
of at most 1000; the last request of a batch also sets the tag ``ferrotrack.rows.<rank>``
to the number of store rows the MLflow run now holds, which :meth:`remote_rows` reads back
(a process killed after the request but before its cursor was saved resends nothing).
MLflow's SQL store also ignores a point it already holds (same key, step, millisecond and
value), so a retry after a lost reply never duplicates a point either.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from ferrotrack.backends.mlflow.config import MlflowConfig
from ferrotrack.backends.mlflow.convert import (
    MAX_PARAM_LENGTH,
    MAX_PARAMS_TAGS_PER_REQUEST,
    MAX_TAG_LENGTH,
    STATUSES,
    bad_name,
    chunks,
    param_text,
    point_columns,
    request_plan,
)
from ferrotrack.backends.mlflow.errors import MlflowUnavailableError, Scrubber, public_uri
from ferrotrack.core.errors import PermanentBackendError
from ferrotrack.core.params import flatten
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType
from ferrotrack.core.plugins.imports import require

if TYPE_CHECKING:
    import pyarrow as pa
    from mlflow import MlflowClient

    from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["MlflowBackend"]

_log = logging.getLogger("ferrotrack.backends.mlflow")

RUN_ID_TAG = "ferrotrack.run_id"
"""Tag of the MLflow run: the ferrotrack run it mirrors (found again without the state)."""
ROWS_TAG = "ferrotrack.rows."
"""Tag prefix: ``ferrotrack.rows.<rank>`` = store rows of the rank the MLflow run holds."""
PARENT_TAG = "mlflow.parentRunId"
INSTALL = "pip install ferrotrack-backends[mlflow]"

_TIMEOUT_VAR, _RETRIES_VAR = "MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"
_DEFAULT_TIMEOUT, _DEFAULT_RETRIES = "10", "0"
# Codes for data MLflow will never take, whatever the retries.
_REJECTED = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE"})
_SECRET_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
"""MLflow's own credential variables: their values are scrubbed like the configured password."""

T = TypeVar("T")


class MlflowBackend(BackendPlugin):
    """Mirrors a run into MLflow (see ``docs/backends/mlflow.md`` for what goes where)."""

    config: MlflowConfig

    def __init__(self) -> None:
        super().__init__()
        self._client: MlflowClient | None = None
        self._info: RunInfo | None = None
        self._uri = ""
        self._scrub = Scrubber(())
        self._mlflow_run = ""
        self._status = ""
        self._params: dict[str, str] = {}
        self._remote: dict[int, int] = {}
        self._recheck = False
        self._parent_set = False
        self._event_ranks: set[int] = set()
        self._warned: set[tuple[str, str]] = set()
        self._env_before: dict[str, str | None] | None = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``mlflow``."""
        from ferrotrack.backends import __version__

        return PluginMetadata(
            name="mlflow",
            version=__version__,
            type=PluginType.BACKEND,
            description="Mirror the run into an MLflow tracking server.",
            author="ferrotrack",
            dependencies=["mlflow"],
            extra="mlflow",
            capabilities=frozenset({"metrics", "params", "tags", "artifacts", "events", "status"}),
            config_model=MlflowConfig,
        )

    @property
    def mlflow_run_id(self) -> str:
        """The MLflow run written to, once open."""
        return self._mlflow_run

    @property
    def tracking_uri(self) -> str:
        """The tracking URI in use, without credentials."""
        return public_uri(self._uri)

    # ---- opening ------------------------------------------------------------------------

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Finds the MLflow run of ``info`` (state, else its ``ferrotrack.run_id`` tag) or
        creates it, then sends the params and tags it lacks."""
        mlflow = require("mlflow", "the mlflow backend", install=INSTALL)
        config = self.config if self.config is not None else MlflowConfig()
        self.config, self._info = config, info
        changed = _request_settings(config)
        if self._env_before is None:
            self._env_before = changed
        self._uri = _with_credentials(
            config.tracking_uri or _default_uri(mlflow.get_tracking_uri(), state), config
        )
        secrets = [config.password.get_secret_value()] if config.password else []
        secrets += _passwords(self._uri)
        secrets += [os.environ.get(name, "") for name in _SECRET_VARIABLES]
        self._scrub = Scrubber([*secrets, *(quote(s, safe="") for s in secrets)])
        try:
            self._client = mlflow.MlflowClient(tracking_uri=self._uri)
        except Exception as exc:
            raise PermanentBackendError(
                f"backend 'mlflow', run {info.run_id}: no MLflow client for tracking URI "
                f"{public_uri(self._uri)} ({self._scrub(str(exc)).splitlines()[0][:300]}): fix "
                "backend_configs.mlflow.tracking_uri or MLFLOW_TRACKING_URI, then "
                f"`ferrotrack sync {info.run_id} --backend {self.name}`"
            ) from None
        run = self._call("open the MLflow run", lambda: self._find_or_create(info, state))
        data = run.data
        self._status = run.info.status
        self._params = dict(data.params)
        self._remote = {
            int(key[len(ROWS_TAG) :]): int(value)
            for key, value in data.tags.items()
            if key.startswith(ROWS_TAG) and key[len(ROWS_TAG) :].isdigit() and value.isdigit()
        }
        self._parent_set = PARENT_TAG in data.tags
        tags: dict[str, str | None] = {k: v for k, v in info.tags.items() if data.tags.get(k) != v}
        tags.update(self._parent_tags(info))
        self.log_params(info.params)
        if tags:
            self.set_tags(tags)

    def stop(self) -> None:
        """Gives back the MLflow variables :func:`_request_settings` set for this backend
        (MLflow reads them process-wide; a child process would inherit them)."""
        before, self._env_before = self._env_before, None
        for name, value in (before or {}).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        super().stop()

    def _find_or_create(self, info: RunInfo, state: dict[str, Any]) -> Any:
        from mlflow.entities import ViewType

        client = self._need_client()
        known = state.get("run_id")
        if isinstance(known, str) and known:
            run = self._existing(known, info)
        else:
            experiment_id = self._experiment_id(info)
            found = client.search_runs(
                [experiment_id],
                filter_string=f"tags.`{RUN_ID_TAG}` = '{info.run_id}'",
                run_view_type=ViewType.ACTIVE_ONLY,
                max_results=1,
            )
            if found:
                run = found[0]
            else:
                run = client.create_run(
                    experiment_id,
                    start_time=info.started // 1_000_000,
                    tags={RUN_ID_TAG: info.run_id},
                    run_name=info.name,
                )
        self._mlflow_run = run.info.run_id
        state.update(
            run_id=run.info.run_id,
            experiment_id=run.info.experiment_id,
            tracking_uri=public_uri(self._uri),
        )
        return run

    def _existing(self, run_id: str, info: RunInfo) -> Any:
        """The MLflow run named in the state; a clear error when it is gone or deleted."""
        from mlflow.exceptions import MlflowException

        try:
            run = self._need_client().get_run(run_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise PermanentBackendError(
                f"backend 'mlflow', run {info.run_id}: the MLflow run {run_id} it was mirrored "
                f"to is not found at {public_uri(self._uri)}: point tracking_uri at the server "
                f"that holds it, or delete {info.run_dir / 'sync' / self.name} to mirror the "
                "whole run again into a new MLflow run"
            ) from None
        if run.info.lifecycle_stage == "deleted":
            raise PermanentBackendError(
                f"backend 'mlflow', run {info.run_id}: its MLflow run {run_id} is deleted: "
                f"restore it (`mlflow runs restore --run-id {run_id}`), then "
                f"`ferrotrack sync {info.run_id} --backend {self.name}`"
            )
        return run

    def _experiment_id(self, info: RunInfo) -> str:
        """The id of the same-named MLflow experiment, created when missing."""
        from mlflow.exceptions import MlflowException

        client = self._need_client()
        name = self.config.experiment or info.experiment
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return str(client.create_experiment(name))
            except MlflowException as exc:  # another process created it meanwhile
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
                experiment = client.get_experiment_by_name(name)
                assert experiment is not None
        if experiment.lifecycle_stage == "deleted":
            raise PermanentBackendError(
                f"backend 'mlflow', run {info.run_id}: the MLflow experiment {name!r} is "
                f"deleted: restore it (`mlflow experiments restore --experiment-id "
                f"{experiment.experiment_id}`) or set backend_configs.mlflow.experiment, then "
                f"`ferrotrack sync {info.run_id} --backend {self.name}`"
            )
        return str(experiment.experiment_id)

    def _parent_tags(self, info: RunInfo) -> dict[str, str | None]:
        """``mlflow.parentRunId`` from the parent's own mirror state, once it has one."""
        if info.parent is None or self._parent_set:
            return {}
        from ferrotrack.core.delivery.cursor import DeliveryCursor
        from ferrotrack.core.errors import RunNotFoundError
        from ferrotrack.core.store.catalog import find_run

        try:
            parent_dir = find_run(info.parent, info.run_dir.parent.parent).path
        except RunNotFoundError:
            return {"ferrotrack.parent": info.parent}
        parent = DeliveryCursor(parent_dir, self.name).load_shared().state.get("run_id")
        if not isinstance(parent, str) or not parent:
            return {"ferrotrack.parent": info.parent}
        self._parent_set = True
        return {"ferrotrack.parent": info.parent, PARENT_TAG: parent}

    def remote_rows(self) -> Mapping[int, int]:
        """Store rows per rank the MLflow run holds (its ``ferrotrack.rows.<rank>`` tags)."""
        return dict(self._remote)

    # ---- points -------------------------------------------------------------------------

    def handle_rows(self, batch: pa.RecordBatch, rank: int, start: int, end: int) -> None:
        """Sends the points; the last request records ``end`` for ``rank``. A retry first
        asks MLflow how far the rank got, and skips a batch it already holds."""
        if self._recheck:
            self._refresh_remote()
        if self._remote.get(rank, 0) >= end:
            return
        self._send_points(batch, (rank, end))
        self._remote[rank] = end

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """Points without their store rows (a direct call): sent without a position."""
        self._send_points(batch, None)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """A batch without its rank is sent as is."""
        self._send_points(batch, None)

    def _send_points(self, batch: pa.RecordBatch, position: tuple[int, int] | None) -> None:
        from mlflow.entities import Metric, RunTag

        client, run_id = self._need_client(), self._mlflow_run
        keys, values, stamps, steps = point_columns(batch, self._metric_name_ok)
        metrics = list(map(Metric, keys, values, stamps, steps))
        tags = [] if position is None else [RunTag(f"{ROWS_TAG}{position[0]}", str(position[1]))]
        self._recheck = position is not None
        for a, b, last in request_plan(len(metrics), self.config.chunk_size, bool(tags)):
            extra = tags if last else []
            self._call(
                "send points", partial(client.log_batch, run_id, metrics=metrics[a:b], tags=extra)
            )
        self._recheck = False

    def _metric_name_ok(self, name: str) -> bool:
        why = bad_name(name)
        if why is not None:
            self._warn_once(
                "metric",
                name,
                f"backend 'mlflow', run {self._run_label()}: metric {name!r} is not sent "
                f"({why}); the store keeps its points: rename it, or leave it out with "
                "routing.mlflow.exclude",
            )
        return why is None

    def _refresh_remote(self) -> None:
        client = self._need_client()
        run = self._call("read the MLflow run", partial(client.get_run, self._mlflow_run))
        for key, value in run.data.tags.items():
            rank = key[len(ROWS_TAG) :]
            if key.startswith(ROWS_TAG) and rank.isdigit() and value.isdigit():
                self._remote[int(rank)] = max(self._remote.get(int(rank), 0), int(value))
        self._recheck = False

    # ---- params, tags, artifacts, events, status -------------------------------------

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Flattened with dots; a param MLflow holds with another value is not changed (MLflow
        refuses it): a warning names it once."""
        from mlflow.entities import Param

        new: dict[str, str] = {}
        for key, raw in flatten(params).items():
            value = param_text(raw)
            why = bad_name(key)
            if why is not None:
                self._warn_once(
                    "param", key,
                    f"backend 'mlflow', run {self._run_label()}: param {key!r} is not sent "
                    f"({why}); the store keeps it: log it under another key",
                )  # fmt: skip
                continue
            if len(value) > MAX_PARAM_LENGTH:
                self._warn_once(
                    "long param", key,
                    f"backend 'mlflow', run {self._run_label()}: param {key!r} is "
                    f"{len(value)} characters, MLflow keeps the first {MAX_PARAM_LENGTH}; the "
                    "store keeps it whole",
                )  # fmt: skip
                value = value[:MAX_PARAM_LENGTH]
            old = self._params.get(key)
            if old is None:
                new[key] = value
            elif old != value:
                self._warn_once(
                    "changed param", key,
                    f"backend 'mlflow', run {self._run_label()}: param {key!r} changed from "
                    f"{old!r} to {value!r}, and MLflow never changes a logged param (MLflow run "
                    f"{self._mlflow_run} keeps {old!r}); the store has the new value: log it "
                    "under a new key, or start a new run for new settings",
                )  # fmt: skip
        items = [Param(k, v) for k, v in new.items()]
        client, run_id = self._need_client(), self._mlflow_run
        for a, b in chunks(len(items), MAX_PARAMS_TAGS_PER_REQUEST):
            self._call("log params", partial(client.log_batch, run_id, params=items[a:b]))
            self._params.update((p.key, p.value) for p in items[a:b])

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """Sets tags (values cut at MLflow's 8000 characters) and deletes those set to ``None``."""
        from mlflow.entities import RunTag
        from mlflow.exceptions import MlflowException

        client, run_id = self._need_client(), self._mlflow_run
        items: list[RunTag] = []
        for key, value in tags.items():
            if value is None:
                continue
            if len(key) > 250 or not key:
                self._warn_once(
                    "tag", key,
                    f"backend 'mlflow', run {self._run_label()}: tag {key[:40]!r}... is not "
                    "sent (MLflow takes keys of 1 to 250 characters); the store keeps it",
                )  # fmt: skip
                continue
            text = str(value)
            if len(text) > MAX_TAG_LENGTH:
                self._warn_once(
                    "long tag", key,
                    f"backend 'mlflow', run {self._run_label()}: tag {key!r} is {len(text)} "
                    f"characters, MLflow keeps the first {MAX_TAG_LENGTH}; the store keeps it "
                    "whole",
                )  # fmt: skip
                text = text[:MAX_TAG_LENGTH]
            items.append(RunTag(key, text))
        for a, b in chunks(len(items), MAX_PARAMS_TAGS_PER_REQUEST):
            self._call("set tags", partial(client.log_batch, run_id, tags=items[a:b]))
        for key, value in tags.items():
            if value is not None:
                continue

            def delete(key: str = key) -> None:
                try:
                    client.delete_tag(run_id, key)
                except MlflowException as exc:  # already gone (a retry): done
                    if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                        raise

            self._call("delete a tag", delete)

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        """Uploads the run's copy under the same relative path (a folder with its files)."""
        client, run_id = self._need_client(), self._mlflow_run
        rel = _artifact_name(path, name, self._info)
        folder = posixpath_parent(rel)
        if path.is_dir():
            self._call("upload an artifact", lambda: client.log_artifacts(run_id, str(path), rel))
        elif path.name == rel.rsplit("/", 1)[-1]:
            self._call("upload an artifact", lambda: client.log_artifact(run_id, str(path), folder))
        else:  # MLflow names a file by its basename: upload a copy named as logged
            with tempfile.TemporaryDirectory(prefix="ferrotrack-mlflow-") as tmp:
                copy = Path(tmp) / rel.rsplit("/", 1)[-1]
                shutil.copy2(path, copy)
                self._call(
                    "upload an artifact", lambda: client.log_artifact(run_id, str(copy), folder)
                )

    def log_event(self, event: RunEvent) -> None:
        """Notes the rank: its event file is uploaded whole at :meth:`flush` (MLflow has
        no event log; one upload per lane instead of one request per event)."""
        self._event_ranks.add(int(event.rank))

    def set_status(self, status: str) -> None:
        """``running`` reopens a terminated MLflow run; a final status terminates it with
        the run's end time (``crashed`` is ``FAILED``)."""
        client, run_id = self._need_client(), self._mlflow_run
        target = STATUSES.get(status, "FAILED")
        if target == "RUNNING":
            if self._status != "RUNNING":
                self._call("set the status", lambda: client.update_run(run_id, status="RUNNING"))
            self._status = target
            return
        if self._info is not None:
            tags = self._parent_tags(self._info)  # the parent may have been mirrored since
            if tags:
                self.set_tags(tags)
        end = _ended_ms(self._info)
        self._call("set the status", lambda: client.set_terminated(run_id, target, end))
        self._status = target

    def flush(self) -> None:
        """Uploads the event files of the ranks whose events this lane delivered."""
        info = self._info
        if info is None or not self._event_ranks:
            return
        client, run_id = self._need_client(), self._mlflow_run
        for rank in sorted(self._event_ranks):
            path = info.run_dir / "events" / f"rank-{rank}.jsonl"
            if path.is_file():
                self._call(
                    "upload events",
                    partial(client.log_artifact, run_id, str(path), "ferrotrack/events"),
                )
        self._event_ranks.clear()

    # ---- helpers ------------------------------------------------------------------------

    def _need_client(self) -> MlflowClient:
        if self._client is None:
            raise RuntimeError("backend 'mlflow': an item came before open_run")
        return self._client

    def _run_label(self) -> str:
        return self._info.run_id if self._info is not None else "?"

    def _warn_once(self, kind: str, key: str, message: str) -> None:
        if (kind, key) not in self._warned:
            self._warned.add((kind, key))
            _log.warning("%s", self._scrub(message))

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, its failure turned into an error naming the backend, the run, the
        server (without credentials) and what to do; permanent for data MLflow refuses."""
        from mlflow.exceptions import MlflowException

        try:
            return fn()
        except PermanentBackendError as exc:
            raise PermanentBackendError(self._scrub(str(exc))) from None
        except MlflowException as exc:
            self._raise(what, exc, str(exc.error_code))
        except Exception as exc:
            self._raise(what, exc, "")

    def _raise(self, what: str, exc: BaseException, code: str) -> NoReturn:
        run = self._run_label()
        where = public_uri(self._uri)
        reason = self._scrub(str(exc)).strip().splitlines()[0][:500] if str(exc) else ""
        reason = _short_reason(reason) or type(exc).__name__
        if code in _REJECTED:
            raise PermanentBackendError(
                f"backend 'mlflow', run {run}: MLflow at {where} refused to {what} ({reason}); "
                "it is skipped, the store keeps it"
            ) from None
        if code == "ENDPOINT_NOT_FOUND":
            message = (
                f"backend 'mlflow', run {run}: {where} does not answer as an MLflow tracking "
                f"server (cannot {what}: {reason}): fix backend_configs.mlflow.tracking_uri or "
                f"MLFLOW_TRACKING_URI, then `ferrotrack sync {run} --backend {self.name}`"
            )
            if self._mlflow_run == "":
                raise PermanentBackendError(message) from None
            raise MlflowUnavailableError(message) from None
        if code in {"UNAUTHENTICATED", "PERMISSION_DENIED"}:
            raise MlflowUnavailableError(
                f"backend 'mlflow', run {run}: MLflow at {where} refused the credentials "
                f"(cannot {what}: {reason}): set backend_configs.mlflow.username/password or "
                "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (or a token in "
                "MLFLOW_TRACKING_TOKEN), then "
                f"`ferrotrack sync {run} --backend {self.name}`"
            ) from None
        raise MlflowUnavailableError(
            f"backend 'mlflow', run {run}: cannot {what} at {where} ({reason}); the store keeps "
            f"everything: once the server is back, `ferrotrack sync {run} --backend {self.name}` "
            "sends what it lacks"
        ) from None


def _short_reason(text: str) -> str:
    """The network failure in a few words when the text is one of requests' long ones."""
    for needle, short in (
        ("Connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("Name or service not known", "unknown host"),
        ("RemoteDisconnected", "the server closed the connection"),
        ("Connection reset", "connection reset"),
    ):
        if needle in text:
            return short
    return text


def posixpath_parent(rel: str) -> str | None:
    """The folder part of an artifact path (``None`` at the top)."""
    head, _, _ = rel.rpartition("/")
    return head or None


def _artifact_name(path: Path, name: str | None, info: RunInfo | None) -> str:
    """The artifact's path relative to the run's ``artifacts/`` (as logged)."""
    if info is not None:
        try:
            return path.resolve().relative_to((info.run_dir / "artifacts").resolve()).as_posix()
        except ValueError:
            pass
    return name or path.name


def _ended_ms(info: RunInfo | None) -> int:
    """The run's end time from ``run.json`` (ms), else now."""
    from ferrotrack.core.store.jsonfile import read_json

    if info is not None:
        ended = read_json(info.run_dir / "run.json").get("ended")
        if isinstance(ended, int) and ended > 0:
            return ended // 1_000_000
    return time.time_ns() // 1_000_000


def _request_settings(config: MlflowConfig) -> dict[str, str | None]:
    """MLflow reads its HTTP timeout and retries from the environment on each request;
    set them from the config, or to fail-fast defaults when nobody set them. Its client
    also prints the run's URL (with any password in it) on stdout when a run ends, from
    our thread into the training's output: off unless someone set the variable.

    Returns the previous value (``None``: unset) of each variable it changed, for
    ``stop`` to put back."""
    wanted: dict[str, tuple[str, bool]] = {
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": ("true", False),
        _TIMEOUT_VAR: (
            str(config.request_timeout or _DEFAULT_TIMEOUT),
            config.request_timeout is not None,
        ),
        _RETRIES_VAR: (
            str(_DEFAULT_RETRIES if config.request_retries is None else config.request_retries),
            config.request_retries is not None,
        ),
    }
    changed: dict[str, str | None] = {}
    for name, (value, explicit) in wanted.items():
        before = os.environ.get(name)
        if (before is None or explicit) and before != value:
            changed[name] = before
            os.environ[name] = value
    return changed


def _default_uri(resolved: str, state: Mapping[str, Any]) -> str:
    """The tracking URI when the config names none: the one the run was first mirrored to
    (kept in the state), so a ``ferrotrack sync`` from another folder or with another
    ``MLFLOW_TRACKING_URI`` finds the same MLflow run; else MLflow's own (``resolved``),
    a relative ``sqlite:``/``file:`` path made absolute against the working directory."""
    known = state.get("tracking_uri")
    if isinstance(known, str) and known:
        # The state keeps it without a password; MLflow's own may carry one for it.
        return resolved if public_uri(resolved) == known else known
    return _absolute(resolved)


def _absolute(uri: str) -> str:
    """``uri`` with a relative SQLite or file-store path made absolute (MLflow 2 kept
    ``mlruns`` and ``sqlite:///mlflow.db`` relative to the working directory)."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path, sep, query = uri[len("sqlite:///") :].partition("?")
        if path and path != ":memory:":
            return f"sqlite:///{Path(path).resolve()}{sep}{query}"
        return uri
    parts = urlsplit(uri)
    if parts.scheme == "file" and not parts.netloc and not parts.path.startswith("/"):
        return Path(parts.path).resolve().as_uri()
    if not parts.scheme and uri:
        return Path(uri).resolve().as_uri()
    return uri


def _with_credentials(uri: str, config: MlflowConfig) -> str:
    """``uri`` with the configured user and password in it (requests sends them as basic
    auth); the password never leaves this object unscrubbed."""
    if config.username is None or config.password is None:
        return uri
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return uri
    user = quote(config.username, safe="")
    secret = quote(config.password.get_secret_value(), safe="")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"{user}:{secret}@{host}", parts.path, parts.query, ""))


def _passwords(uri: str) -> list[str]:
    """The password in ``uri``, as written and decoded (for scrubbing)."""
    try:
        password = urlsplit(uri).password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []
