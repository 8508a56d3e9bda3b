"""What every framework plugin of this package needs: its library imported with a hint
naming the extra, its version checked against the range we support, warnings given once,
values turned into numbers, and patch targets someone else already wrapped recognised.

Kept free of torch and every other training library: the plugins import them inside
``install()``/``start()`` through :func:`import_library`.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import Any, TypeVar

from ferrotrack.core.errors import MissingDependencyError, PluginWarning
from ferrotrack.core.plugins.imports import require

__all__ = [
    "DISTRIBUTION",
    "MetricSources",
    "UnsupportedVersionError",
    "WarnOnce",
    "as_number",
    "foreign_patch",
    "import_library",
    "installed",
    "require_version",
    "settle",
    "version_tuple",
    "wrapper_like",
]

DISTRIBUTION = "ferrotrack-frameworks"

F = TypeVar("F", bound=Callable[..., Any])

_VERSION = re.compile(r"\s*v?(\d+(?:\.\d+)*)")
_warned_versions: set[tuple[str, str, str]] = set()
_warned_lock = threading.Lock()


class UnsupportedVersionError(MissingDependencyError):
    """The library is installed but older than the plugin supports; the message names the
    supported range. A :class:`MissingDependencyError`, so it is handled like a missing one
    (the plugin is set aside, the run goes on)."""


def import_library(plugin: str, module: str, extra: str) -> ModuleType:
    """``module`` imported, or :class:`MissingDependencyError` naming the framework plugin
    and ``pip install ferrotrack-frameworks[<extra>]``.

    >>> import_library("demo", "json", "demo").__name__
    'json'
    """
    return require(module, f"framework {plugin!r}", install=f"pip install {DISTRIBUTION}[{extra}]")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (cheap enough for
    ``unavailable_reason``).

    >>> installed("json"), installed("no_such_module_here")
    (True, False)
    """
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent that is no package; sys.modules[m] = None
        return False


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading release numbers of a version string; ``()`` when it has none.

    >>> version_tuple("2.15.0+cu132"), version_tuple("5.0.0rc1"), version_tuple("dev")
    ((2, 15, 0), (5, 0, 0), ())
    """
    match = _VERSION.match(text)
    if match is None:
        return ()
    return tuple(int(part) for part in match.group(1).split("."))


def require_version(plugin: str, module: ModuleType | str, minimum: str, tested: str) -> str:
    """The library's version, checked: older than ``minimum`` raises
    :class:`UnsupportedVersionError`; newer than ``tested`` (compared on as many numbers as
    ``tested`` has: ``"2.15"`` admits every 2.15.x) or unreadable warns once per process
    with :class:`~ferrotrack.core.errors.PluginWarning`, and capture goes ahead.
    Both name the supported range.
    """
    mod = import_module(module) if isinstance(module, str) else module
    name = mod.__name__
    found = str(getattr(mod, "__version__", "") or "")
    supported = f"{name} {minimum} to {tested}.x"
    have = version_tuple(found)
    if not have:
        _warn_version(plugin, name, found, f"cannot read {name}'s version {found!r}; {supported}")
        return found
    if have < version_tuple(minimum):
        raise UnsupportedVersionError(
            f"framework {plugin!r} supports {supported}, found {name} {found}: "
            f"pip install '{name}>={minimum}'"
        )
    top = version_tuple(tested)
    if have[: len(top)] > top:
        _warn_version(
            plugin,
            name,
            found,
            f"{name} {found} is newer than the versions tested ({supported}); "
            "capture goes ahead, report anything it misses",
        )
    return found


def _warn_version(plugin: str, name: str, found: str, message: str) -> None:
    key = (plugin, name, found)
    with _warned_lock:
        if key in _warned_versions:
            return
        _warned_versions.add(key)
    warnings.warn(f"framework {plugin!r}: {message}", PluginWarning, stacklevel=4)


class WarnOnce:
    """A plugin's warnings, each kind (``key``) given once; later ones are only counted.

    >>> warn = WarnOnce("demo")
    >>> warn.count
    0
    """

    __slots__ = ("_lock", "_seen", "count", "plugin")

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self.count = 0
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, key: str, message: str, *, stacklevel: int = 3) -> bool:
        """Warns ``framework '<plugin>': <message>`` the first time ``key`` comes; ``True``
        when it did."""
        with self._lock:
            self.count += 1
            if key in self._seen:
                return False
            self._seen.add(key)
        warnings.warn(f"framework {self.plugin!r}: {message}", PluginWarning, stacklevel=stacklevel)
        return True


def as_number(value: Any) -> float | None:
    """``value`` as a float (Python and numpy numbers, one-element tensors and arrays via
    ``.item()``), or ``None`` when it is not a number (strings, ``None``, bools, tensors
    of several elements). NaN and infinities are numbers.

    >>> as_number(3), as_number("3"), as_number(True)
    (3.0, None, None)
    """
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    if kind is bool or value is None or isinstance(value, str | bytes):
        return None
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()  # torch.Tensor, numpy scalar or array of one element
        except (ValueError, RuntimeError, TypeError):
            return None
        if type(value) is bool:
            return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number


def foreign_patch(func: object, library: ModuleType) -> str | None:
    """Who replaced ``func`` if it is not ``library``'s own function, else ``None``.

    A function counts as the library's own when its code lives under the library's folder,
    so a ``functools.wraps`` wrapper from another tool (which copies the name, module and
    docstring but not the code) is recognised.
    """
    target = getattr(func, "__func__", func)  # a classmethod or bound method
    code = getattr(target, "__code__", None)
    if code is None:
        return f"a {type(func).__name__} object"
    home = getattr(library, "__file__", None)
    if home is None:
        return None
    root = os.path.realpath(os.path.dirname(home)) + os.sep
    where = os.path.realpath(code.co_filename)
    if where.startswith(root):
        return None
    # the code's own name: a functools.wraps wrapper carries the wrapped function's names
    name = getattr(code, "co_qualname", code.co_name)
    return f"{name} ({code.co_filename}:{code.co_firstlineno})"


def wrapper_like(wrapper: F, original: Callable[..., Any]) -> F:
    """``wrapper`` named and documented as ``original``, which it keeps in ``__wrapped__``
    (its module stays ours: :func:`foreign_patch` and tracebacks show who patched)."""
    for attr in ("__name__", "__qualname__", "__doc__"):
        value = getattr(original, attr, None)
        if value is not None:
            setattr(wrapper, attr, value)
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    return wrapper


# --- what each captured metric is, recorded off the user's thread --------------------------

_log = logging.getLogger("ferrotrack.frameworks")
_writer_lock = threading.Lock()
_writer: concurrent.futures.ThreadPoolExecutor | None = None
_pending: set[concurrent.futures.Future[None]] = set()


class MetricSources:
    """Records once per run and name that a framework's points are ``type`` from
    ``source`` (the run's ``metrics.json``, as :meth:`FrameworkPlugin.emit` would), on a
    worker thread: the file is written with an fsync, which the training loop must not
    wait for. A hot path checks ``run is not sources.run or name not in sources.names``
    before calling :meth:`note`, so a known name costs one set lookup.
    """

    __slots__ = ("_lock", "info", "names", "run")

    def __init__(self, source: str, *, metadata: dict[str, Any] | None = None) -> None:
        self.info = {"type": "scalar", "source": source, "metadata": dict(metadata or {})}
        self.run: object = None
        self.names: set[str] = set()
        self._lock = threading.Lock()

    def note(self, run: object, *names: str) -> None:
        """Hands the facts of ``names`` in ``run`` that are new to the worker thread."""
        with self._lock:
            if run is not self.run:
                self.run, self.names = run, set()
            fresh = [name for name in names if name not in self.names]
            self.names.update(fresh)
        run_dir = getattr(run, "run_dir", None)
        if fresh and run_dir is not None:
            _record_later(run_dir, {name: self.info for name in fresh})


def _record_later(run_dir: Any, infos: dict[str, dict[str, Any]]) -> None:
    global _writer  # one worker for the process, made on first use
    with _writer_lock:
        if _writer is None:
            _writer = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="ferrotrack-frameworks-info"
            )
        future = _writer.submit(_record, run_dir, infos)
        _pending.add(future)
    future.add_done_callback(_done)


def _done(future: concurrent.futures.Future[None]) -> None:
    with _writer_lock:
        _pending.discard(future)


def _record(run_dir: Any, infos: dict[str, dict[str, Any]]) -> None:
    from ferrotrack.core.plugins.metric_info import record_metric_info

    try:
        record_metric_info(run_dir, infos)
    except Exception as exc:  # the points are in the store; only their description is lost
        _log.warning("ferrotrack.frameworks: could not record metric facts in %s: %s", run_dir, exc)


def _after_fork() -> None:
    """A forked child (a DataLoader worker) has no worker thread: it makes its own."""
    global _writer, _writer_lock
    _writer, _writer_lock = None, threading.Lock()
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def settle(timeout: float = 5.0) -> bool:
    """Waits (at most ``timeout`` seconds) until the metric facts handed over so far are
    written; ``False`` if some are still pending. Plugins call it when they stop, so a
    finished run's ``metrics.json`` is complete."""
    with _writer_lock:
        waiting = list(_pending)
    if not waiting:
        return True
    _, late = concurrent.futures.wait(waiting, timeout)
    return not late
