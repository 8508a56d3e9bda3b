"""The ``ray`` run backend: each model run a Ray task on a local instance or a cluster.

Ray allows one connection per process, so this module keeps one session: started (or
joined) on first use, kept for the later runs of the process (a 100-point sweep pays for
one start), replaced when a run asks for another cluster, shut down at exit or by
:func:`shutdown`. A Ray that the program itself started (``ray.init`` before the first run)
is used as it is and never shut down here. ``ray`` is imported on first use only.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
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
from ferrotrack.run.configs.ray import RayConfig
from ferrotrack.run.process import CommandSpec, ProcessResult

__all__ = ["RayBackend", "shutdown", "start"]

logger = logging.getLogger("ferrotrack.run")

_CLUSTER_FIELDS = ("address", "init_kwargs", "include_dashboard")
"""The config fields that choose the cluster (the others are per task)."""

ALIVE_TIMEOUT_S = 2.0
"""How long a kept session's GCS may take to accept a connection before it counts as dead."""

_lock = threading.RLock()
_session: _RaySession | None = None
_atexit_registered = False


@dataclass
class _RaySession:
    """The process's connection to Ray."""

    ray: ModuleType
    key: str
    ours: bool
    """Whether this module called ``ray.init`` (then it also calls ``ray.shutdown``)."""
    label: str
    remote: Any = field(default=None)


def _session_for(config: RayConfig) -> _RaySession:
    """The process's Ray session for ``config``, started or joined when needed."""
    global _session, _atexit_registered
    from ferrotrack.core.plugins.imports import require

    ray = require("ray", "the ray run backend", install="pip install ferrotrack-run[ray]")
    key = config_key(config, _CLUSTER_FIELDS)
    with _lock:
        if ray.is_initialized() and not _alive(ray):
            # The cluster died under a kept session (ray.is_initialized() stays True and
            # every task would wait forever): drop it and start or join again.
            logger.warning("ray: the session's cluster is gone; starting a new session")
            try:
                ray.shutdown()
            except Exception:
                logger.warning("ray.shutdown of a dead session failed", exc_info=True)
            _session = None
        if (
            _session is not None
            and ray.is_initialized()
            and (_session.key == key or not _session.ours)
        ):
            return _session
        if _session is None and ray.is_initialized():
            # The program's own ray.init: use it, leave its lifetime to the program.
            _session = _RaySession(ray, key, ours=False, label="ray (the program's own)")
            return _session
        address = config.address
        if address is not None and address != "auto":
            check_reachable(address, "ray", config.connect_timeout)
        _close_locked()
        if address is None:
            kwargs = merged(
                {
                    "address": "local",
                    "include_dashboard": config.include_dashboard,
                    "log_to_driver": False,
                    "logging_level": logging.WARNING,
                },
                config.init_kwargs,
            )
            label = "ray (local instance)"
        else:
            kwargs = merged(
                {"address": address, "log_to_driver": False, "logging_level": logging.WARNING},
                config.init_kwargs,
            )
            label = f"ray at {address}"
        try:
            ray.init(**kwargs)
        except Exception as exc:
            raise EngineUnavailable(
                f"{label}: ray.init failed: {type(exc).__name__}: {exc}"
            ) from exc
        _session = _RaySession(ray, key, ours=True, label=label)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return _session


def _alive(ray: ModuleType) -> bool:
    """Whether the connected cluster's GCS still accepts connections."""
    try:
        address = ray.get_runtime_context().gcs_address
    except Exception:  # a client (ray://) connection has no GCS address here
        return True
    if not address:
        return True
    try:
        check_reachable(str(address), "ray GCS", ALIVE_TIMEOUT_S)
    except EngineUnavailable:
        return False
    return True


def _close_locked() -> None:
    global _session
    session, _session = _session, None
    if session is not None and session.ours:
        try:
            session.ray.shutdown()
        except Exception:  # a dying Ray at exit: nothing more to do
            logger.warning("ray.shutdown failed", exc_info=True)


def start(**options: Any) -> None:
    """Starts (or joins) now the cluster that a run with these backend options would use,
    instead of at the first run (e.g. before timing a sweep). Raises
    :class:`ferrotrack.run.errors.BackendConfigError` for bad options and
    :class:`~ferrotrack.run.backends.engine.EngineUnavailable` when it cannot."""
    config = RayBackend().make_config(None, options)
    assert isinstance(config, RayConfig)
    _session_for(config)


def shutdown() -> None:
    """Shuts down the Ray session this module started (a no-op otherwise); the next run
    starts a new one. Called at exit."""
    with _lock:
        _close_locked()


def _discard(session: _RaySession) -> None:
    with _lock:
        if _session is session:
            _close_locked()


class _RayTasks(TaskEngine):
    """Tasks of one config (its resources) on the session."""

    def __init__(self, session: _RaySession, config: RayConfig) -> None:
        self.session = session
        self.label = session.label
        with _lock:
            if session.remote is None:
                session.remote = session.ray.remote(run_once)
        options: dict[str, Any] = {
            "num_cpus": config.num_cpus,
            "num_gpus": config.num_gpus,
            "max_retries": 0,
        }
        if config.resources:
            options["resources"] = dict(config.resources)
        if config.runtime_env is not None:
            options["runtime_env"] = dict(config.runtime_env)
        self._options = options
        self._local = session.ours and config.address is None

    def unsatisfiable(self) -> str | None:
        """On a local instance started here (one node, fixed): the resources a task asks
        for that the instance lacks."""
        if not self._local:
            return None
        try:
            total = self.session.ray.cluster_resources()
        except Exception:
            return None
        asked = dict(self._options.get("resources", {}))
        asked["CPU"] = self._options["num_cpus"]
        asked["GPU"] = self._options["num_gpus"]
        short = [
            f"{name} {amount:g} (it has {total.get(name, 0):g})"
            for name, amount in sorted(asked.items())
            if amount > total.get(name, 0)
        ]
        if not short:
            return None
        return f"{self.label}: no worker can run the task: it asks for " + ", ".join(short)

    def submit(self, spec: CommandSpec, marker: str, key: str, done: Callable[[], None]) -> Any:
        ref = self.session.remote.options(name=key, **self._options).remote(spec, marker)
        future = ref.future()
        future.add_done_callback(lambda _: done())
        return (ref, future)

    def outcome(self, handle: Any) -> ProcessResult:
        errors = self.session.ray.exceptions
        try:
            result = handle[1].result()
        except (errors.WorkerCrashedError, errors.NodeDiedError) as exc:
            raise lost(exc) from exc
        if not isinstance(result, ProcessResult):
            raise TypeError(f"the task returned {type(result).__name__}, not a ProcessResult")
        return result

    def cancel(self, handles: Sequence[Any]) -> None:
        for ref, _ in (h for h in handles if h is not None):
            try:
                self.session.ray.cancel(ref, force=True)
            except Exception:  # already finished or gone
                logger.debug("ray.cancel failed", exc_info=True)

    def close(self) -> None:
        _discard(self.session)


class RayBackend(EngineBackend):
    """Runs each model run as a Ray task (``run_command`` on a worker), on a local Ray
    instance or a cluster at ``address``; the run folders must be shared with workers."""

    backend_name = "ray"
    config_class = RayConfig
    extra = "ray"
    library = "ray"

    def engine(self, config: Any) -> TaskEngine:
        assert isinstance(config, RayConfig)
        return _RayTasks(_session_for(config), config)

    @staticmethod
    def shutdown() -> None:
        """See :func:`shutdown`."""
        shutdown()
