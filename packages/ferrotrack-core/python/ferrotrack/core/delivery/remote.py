"""Delivery from a process of its own (``orchestrator.process = true`` in the settings).

Backends are Python code, and most do Python work per point or per step (building MLflow
entities, a W&B ``log`` per step, an Aim ``track`` per point): on the run's own process
that work takes the GIL from the training loop. Here the run's process only tells a child
process what the store cannot (params, tags, artifacts, events with the rows they follow,
the final status); the child runs the same lanes, which follow the store (every flushed
point is on disk, :attr:`LaneOptions.tail`), write the same cursors and state files, and
end when the run ends. The child is the run's delegate for its rank: when the run's
process dies, the child sees its pipe close and stops at once, leaving the rest to
``ferrotrack sync``, which then takes the rank's lock.

Messages are pickled tuples on the child's stdin; replies (``status``, ``wait_idle``) come
back on a pipe of their own, so that a backend printing to stdout (ClearML does) cannot
garble them.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ferrotrack.core.delivery.lane import LaneOptions
from ferrotrack.core.plugins.base import PluginBase
from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["RemoteOrchestrator", "RemoteRoute", "remote_route"]


@dataclass(frozen=True)
class RemoteRoute:
    """A backend as the child builds it again: its class (``module:qualname``), its config,
    and what it receives."""

    target: str
    config: Any
    include: Sequence[str]
    exclude: Sequence[str]


def remote_route(
    backend: PluginBase, include: Sequence[str], exclude: Sequence[str]
) -> RemoteRoute | None:
    """How a child can build ``backend`` again, or ``None`` when it cannot (a class defined
    in a function or in ``__main__``, a config that does not pickle)."""
    cls = type(backend)
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        return None
    config = getattr(backend, "config", None)
    try:
        pickle.dumps(config)
    except Exception:
        return None
    return RemoteRoute(f"{cls.__module__}:{cls.__qualname__}", config, include, exclude)


class RemoteOrchestrator:
    """The :class:`~ferrotrack.core.delivery.orchestrator.Orchestrator` calls a run's plugin
    session makes, sent to a child process that delivers from the store."""

    def __init__(
        self,
        routes: Sequence[RemoteRoute],
        *,
        run_dir: Path,
        options: LaneOptions,
        secrets: Sequence[str],
        info: RunInfo,
        rank: int,
    ) -> None:
        self._init = {
            "routes": list(routes),
            "run_dir": str(run_dir),
            "options": dataclasses.replace(options, tail=True),
            "secrets": list(secrets),
            "info": info,
            "rank": rank,
        }
        self._drain = options.drain_timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._replies: IO[bytes] | None = None
        self._final: str | None = None
        self._closed = False

    def start(self) -> None:
        """Starts the child (in a session of its own, so a Ctrl-C meant for the training
        loop does not cut delivery short: the run's process closes it)."""
        if self._proc is not None:
            return
        read_end, write_end = os.pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "ferrotrack.core.delivery.remote", str(write_end)],
            stdin=subprocess.PIPE,
            pass_fds=(write_end,),
            start_new_session=True,
        )
        os.close(write_end)
        self._replies = os.fdopen(read_end, "rb")
        self._send(("init", self._init))

    def _send(self, message: tuple[Any, ...]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or self._closed:
            return
        with self._lock:
            try:
                pickle.dump(message, proc.stdin)
                proc.stdin.flush()
            except (BrokenPipeError, OSError):  # the child is gone: the cursors say where
                self._closed = True

    def _ask(self, message: tuple[Any, ...], default: Any) -> Any:
        with self._lock:
            proc, replies = self._proc, self._replies
            if proc is None or proc.stdin is None or replies is None or self._closed:
                return default
            try:
                pickle.dump(message, proc.stdin)
                proc.stdin.flush()
                return pickle.load(replies)
            except (BrokenPipeError, EOFError, OSError, pickle.UnpicklingError):
                return default

    # ---- what the session sends (the Orchestrator's calls) ---------------------------

    def submit(self, rank: int, first_row: int, batch: Any) -> None:
        """Nothing to send: the child reads every point from the store."""

    def log_params(
        self, params: Mapping[str, Any], *, rank: int = 0, rows: int | None = None
    ) -> None:
        self._send(("log_params", (dict(params),), {"rank": rank, "rows": rows}))

    def set_tags(
        self, tags: Mapping[str, str | None], *, rank: int = 0, rows: int | None = None
    ) -> None:
        self._send(("set_tags", (dict(tags),), {"rank": rank, "rows": rows}))

    def log_artifact(
        self, path: str | Path, name: str | None = None, *, rank: int = 0, rows: int | None = None
    ) -> None:
        self._send(("log_artifact", (Path(path), name), {"rank": rank, "rows": rows}))

    def log_event(self, event: RunEvent) -> None:
        self._send(("log_event", (event,), {}))

    def set_status(self, status: str, *, final: bool = False) -> None:
        if final:
            self._final = status
            return
        self._send(("set_status", (status,), {}))

    def status(self) -> dict[str, dict[str, Any]]:
        """Per backend, as the child's lanes see it (``{}`` once the child is gone)."""
        result: dict[str, dict[str, Any]] = self._ask(("status",), {})
        return result

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Waits until the child's lanes have nothing they can do now."""
        result: bool = self._ask(("wait_idle", timeout), False)
        return result

    def close(self, timeout: float | None = None, *, status: str | None = None) -> None:
        """Has the child deliver the rest from the store and ``status`` last, within
        ``timeout`` seconds (default ``drain_timeout``), then waits for it to exit."""
        if self._proc is None or self._closed:
            return
        wait = self._drain if timeout is None else timeout
        self._send(("close", wait, status or self._final))
        self._closed = True
        proc = self._proc
        try:
            proc.wait(wait + 10.0)  # its own deadline, then stopping the backends
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            if self._replies is not None:
                self._replies.close()


# ---- the child ------------------------------------------------------------------------


def _serve(commands: IO[bytes], replies: IO[bytes]) -> int:
    """The child's loop: builds the lanes, follows the store, answers, ends on ``close``
    (delivering the rest) or when the run's process is gone (at once)."""
    import importlib

    from ferrotrack.core.delivery.lane import END, Route
    from ferrotrack.core.delivery.orchestrator import Orchestrator
    from ferrotrack.core.plugins.backend import BackendPlugin
    from ferrotrack.core.plugins.kinds import PluginType
    from ferrotrack.core.plugins.manager import PluginManager

    kind, init = pickle.load(commands)
    assert kind == "init"
    manager = PluginManager()
    routes = []
    for route in init["routes"]:
        module, _, qualname = route.target.partition(":")
        cls: Any = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        plugin = manager.add(cls, PluginType.BACKEND, route.config)
        if isinstance(plugin, BackendPlugin):
            routes.append((plugin, route))
    started = manager.start_all()
    secrets: list[str] = init["secrets"]
    orchestrator = Orchestrator(
        [Route(p, r.include, r.exclude) for p, r in routes if p in started],
        run_dir=init["run_dir"],
        options=init["options"],
        redact=_redactor(secrets),
        info=init["info"],
        ranks={init["rank"]},
    )
    orchestrator.start()
    rank = init["rank"]
    if rank == 0:
        orchestrator.set_status("running")
    orchestrator.expect({rank: END})
    try:
        while True:
            try:
                message = pickle.load(commands)
            except EOFError:  # the run's process died: sync takes over from the cursors
                orchestrator.close(0.0)
                return 1
            head = message[0]
            if head == "close":
                _, timeout, status = message
                orchestrator.close(timeout, status=status)
                return 0
            if head == "status":
                _reply(replies, orchestrator.status())
            elif head == "wait_idle":
                _reply(replies, orchestrator.wait_idle(message[1]))
            else:
                method, args, kwargs = message
                getattr(orchestrator, method)(*args, **kwargs)
    finally:
        manager.stop_all()


def _reply(replies: IO[bytes], value: Any) -> None:
    pickle.dump(value, replies)
    replies.flush()


def _redactor(secrets: Sequence[str]) -> Callable[[str], str]:
    ordered = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(text: str) -> str:
        for secret in ordered:
            text = text.replace(secret, "**********")
        return text

    return redact


def main(argv: Sequence[str]) -> int:
    """``python -m ferrotrack.core.delivery.remote REPLY_FD`` (started by the run)."""
    import logging

    logging.basicConfig(format="ferrotrack delivery: %(message)s", level=logging.WARNING)
    with os.fdopen(int(argv[0]), "wb") as replies:
        return _serve(sys.stdin.buffer, replies)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
