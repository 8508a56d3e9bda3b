"""The ``dask`` run backend: each model run a task of a ``distributed.Client``.

Clients are cached per cluster config for the life of the process, so a sweep of 100
points pays for one ``LocalCluster`` start; a ``LocalCluster`` started here is closed at
exit or by :func:`shutdown`. ``distributed`` is imported on first use only. The scheduler
of a ``LocalCluster`` started here gives up on a task whose worker died
(``allowed_failures=0``) instead of running it again elsewhere.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ferrotrack.run.backends.engine import (
    EngineBackend,
    EngineUnavailable,
    TaskEngine,
    check_reachable,
    config_key,
    lost,
    merged,
    run_once,
)
from ferrotrack.run.configs.dask import DaskConfig
from ferrotrack.run.process import CommandSpec, ProcessResult

__all__ = ["DaskBackend", "shutdown", "start"]

logger = logging.getLogger("ferrotrack.run")

_CLUSTER_FIELDS = ("address", "n_workers", "threads_per_worker", "processes", "cluster_kwargs")
"""The config fields that choose the cluster (the others are per task)."""

_lock = threading.RLock()
_sessions: dict[str, _DaskSession] = {}
_atexit_registered = False


@dataclass
class _DaskSession:
    """A client, and the ``LocalCluster`` behind it when this module started one."""

    key: str
    client: Any
    cluster: Any
    label: str


def _session_for(config: DaskConfig) -> _DaskSession:
    """The cached client for ``config``, connected (or its cluster started) when needed."""
    global _atexit_registered
    from ferrotrack.core.plugins.imports import require

    distributed = require(
        "distributed", "the dask run backend", install="pip install ferrotrack-run[dask]"
    )
    key = config_key(config, _CLUSTER_FIELDS)
    with _lock:
        session = _sessions.get(key)
        if session is not None and session.client.status == "running":
            return session
        if session is not None:
            _close(session)
        cluster = None
        if config.address is None:
            label = "dask (LocalCluster)"
            kwargs = merged(
                {
                    "n_workers": config.n_workers,
                    "threads_per_worker": config.threads_per_worker,
                    "processes": config.processes,
                    "host": "127.0.0.1",
                    "dashboard_address": None,
                    "silence_logs": logging.WARNING,
                },
                config.cluster_kwargs,
            )
            kwargs["scheduler_kwargs"] = {
                "allowed_failures": 0,  # a lost worker's task is not re-run elsewhere
                **kwargs.get("scheduler_kwargs", {}),
            }
            try:
                cluster = distributed.LocalCluster(**kwargs)
                client = distributed.Client(
                    cluster, set_as_default=False, timeout=config.connect_timeout
                )
            except Exception as exc:
                if cluster is not None:
                    cluster.close()
                raise EngineUnavailable(
                    f"{label}: could not start: {type(exc).__name__}: {exc}"
                ) from exc
        else:
            label = f"dask at {config.address}"
            check_reachable(config.address, "dask scheduler", config.connect_timeout)
            try:
                client = distributed.Client(
                    config.address, set_as_default=False, timeout=config.connect_timeout
                )
            except Exception as exc:
                raise EngineUnavailable(
                    f"{label} is unreachable: {type(exc).__name__}: {exc}"
                ) from exc
        session = _DaskSession(key, client, cluster, label)
        _sessions[key] = session
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return session


def _close(session: _DaskSession) -> None:
    if _sessions.get(session.key) is session:
        del _sessions[session.key]
    for part in (session.client, session.cluster):
        if part is None:
            continue
        try:
            part.close()
        except Exception:  # a cluster already gone at exit: nothing more to do
            logger.warning("closing %s failed", session.label, exc_info=True)


def start(**options: Any) -> None:
    """Starts (or joins) now the cluster that a run with these backend options would use,
    instead of at the first run (e.g. before timing a sweep). Raises
    :class:`ferrotrack.run.errors.BackendConfigError` for bad options and
    :class:`~ferrotrack.run.backends.engine.EngineUnavailable` when it cannot."""
    config = DaskBackend().make_config(None, options)
    assert isinstance(config, DaskConfig)
    _session_for(config)


def shutdown() -> None:
    """Closes every client of this module and the ``LocalCluster`` s it started; the next
    run starts a new one. Called at exit."""
    with _lock:
        for session in list(_sessions.values()):
            _close(session)


def _discard(session: _DaskSession) -> None:
    with _lock:
        if _sessions.get(session.key) is session:
            _close(session)


class _DaskTasks(TaskEngine):
    """Tasks of one config (its resources) on a cached client."""

    def __init__(self, session: _DaskSession, config: DaskConfig) -> None:
        self.session = session
        self.label = session.label
        self._resources = dict(config.resources) or None

    def unsatisfiable(self) -> str | None:
        """On a ``LocalCluster`` started here (fixed workers): why no worker has the
        resources a task asks for."""
        if self._resources is None or self.session.cluster is None:
            return None
        try:
            workers = self.session.client.scheduler_info(n_workers=-1)["workers"].values()
        except Exception:
            return None
        held = [dict(w.get("resources") or {}) for w in workers]
        if any(all(h.get(k, 0) >= v for k, v in self._resources.items()) for h in held):
            return None
        asked = ", ".join(f"{k} {v:g}" for k, v in sorted(self._resources.items()))
        have = "; ".join(sorted({str(h) for h in held})) or "no workers"
        return (
            f"{self.label}: no worker has the resources the task asks for ({asked}); "
            f"the workers have: {have} (LocalCluster resources go in "
            "cluster_kwargs={'resources': {...}})"
        )

    def submit(self, spec: CommandSpec, marker: str, key: str, done: Callable[[], None]) -> Any:
        future = self.session.client.submit(
            run_once, spec, marker, key=key, pure=False, resources=self._resources, retries=0
        )
        future.add_done_callback(lambda _: done())
        return future

    def outcome(self, handle: Any) -> ProcessResult:
        from distributed import KilledWorker

        try:
            result = handle.result()
        except KilledWorker as exc:
            raise lost(exc) from exc
        if not isinstance(result, ProcessResult):
            raise TypeError(f"the task returned {type(result).__name__}, not a ProcessResult")
        return result

    def cancel(self, handles: Sequence[Any]) -> None:
        try:
            self.session.client.cancel([h for h in handles if h is not None], force=True)
        except Exception:  # the client is already closing
            logger.debug("client.cancel failed", exc_info=True)

    def close(self) -> None:
        _discard(self.session)


class DaskBackend(EngineBackend):
    """Runs each model run as a Dask task (``run_command`` on a worker), on a
    ``LocalCluster`` or a scheduler at ``address``; the run folders must be shared."""

    backend_name = "dask"
    config_class = DaskConfig
    extra = "dask"
    library = "distributed"

    def engine(self, config: Any) -> TaskEngine:
        assert isinstance(config, DaskConfig)
        return _DaskTasks(_session_for(config), config)

    @staticmethod
    def shutdown() -> None:
        """See :func:`shutdown`."""
        shutdown()
