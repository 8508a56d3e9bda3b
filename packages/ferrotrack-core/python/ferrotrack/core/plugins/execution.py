"""Execution interfaces: run backends, postprocessors and pipeline backends (seed 003).

Their implementations live in sibling packages (``ferrotrack-run``, ``ferrotrack-postprocess``)
that never import each other: a pipeline backend of one calls postprocessors of the other by
name, through core (:func:`load_execution_plugin`). Each kind has its entry-point group:

=============  ==========================  ===========================================
kind           group                       method
=============  ==========================  ===========================================
run backend    ``ferrotrack.run``          ``run(model_run, **kwargs) -> bool``
postprocessor  ``ferrotrack.postprocess``  ``process(model_run, **kwargs) -> dict``
pipeline       ``ferrotrack.pipeline``     ``execute(model_run, **kwargs) -> dict``
=============  ==========================  ===========================================

An entry point may name a plain class with that method (as seed 003 writes them) or a
subclass of the matching ``*Plugin`` base below, which adds metadata and a config model.
Either is built with no argument. The object they receive follows :class:`ModelRun`.
"""

from __future__ import annotations

import abc
import importlib.metadata as im
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ferrotrack.core.errors import InvalidArgumentError, InvalidValueError, MissingDependencyError
from ferrotrack.core.plugins.base import PluginBase, advance_state
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.metadata import PluginMetadata

if TYPE_CHECKING:
    from ferrotrack.core.run import Run

__all__ = [
    "EXECUTION_METHODS",
    "ModelRun",
    "PipelineBackend",
    "PipelineBackendPlugin",
    "Postprocessor",
    "PostprocessorPlugin",
    "RunBackend",
    "RunBackendPlugin",
    "execution_plugin_names",
    "get_execution_plugin",
    "load_execution_plugin",
    "plain_execution_class",
    "plain_execution_metadata",
    "run_in_pool",
    "run_many",
]


@runtime_checkable
class ModelRun(Protocol):
    """What a run backend, postprocessor or pipeline backend is given (``ferrotrack-run``'s
    ``ModelRun`` is one; a test double needs only these).

    ``run_id`` names the model run and ``output_dir`` is where its runs go: its own folder
    is ``Path(output_dir) / run_id`` (seed 003's convention). ``generate()`` writes its
    inputs there. ``tracked_run`` is the ferrotrack run that records it (``None`` when it
    is not tracked): a backend logs metrics, params and events to it.
    """

    run_id: str
    output_dir: str | os.PathLike[str]

    def generate(self) -> Any:
        """Writes the model's inputs into its output folder."""
        ...

    @property
    def tracked_run(self) -> Run | None:
        """The ferrotrack run recording this model run, if any."""
        ...


@runtime_checkable
class RunBackend(Protocol):
    """Executes a model run somewhere (locally, in Docker, on Slurm...)."""

    def run(self, model_run: ModelRun, **kwargs: Any) -> bool:
        """``True`` when the model ran successfully."""
        ...


@runtime_checkable
class Postprocessor(Protocol):
    """Analyses or transforms a model run's outputs."""

    def process(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """Results; by convention with ``success`` (bool) and ``message``."""
        ...


@runtime_checkable
class PipelineBackend(Protocol):
    """Orchestrates generate, run and postprocess for a model run."""

    def execute(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """Results; by convention ``success``, ``run_id`` and ``stages_completed``."""
        ...


class RunBackendPlugin(PluginBase):
    """A run backend with metadata (name, version, config model) for listings."""

    @abc.abstractmethod
    def run(self, model_run: ModelRun, **kwargs: Any) -> bool:
        """``True`` when the model ran successfully."""


class PostprocessorPlugin(PluginBase):
    """A postprocessor with metadata (name, version, config model) for listings."""

    @abc.abstractmethod
    def process(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """Results; by convention with ``success`` (bool) and ``message``."""


class PipelineBackendPlugin(PluginBase):
    """A pipeline backend with metadata (name, version, config model) for listings."""

    @abc.abstractmethod
    def execute(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """Results; by convention ``success``, ``run_id`` and ``stages_completed``."""


EXECUTION_METHODS: dict[PluginType, str] = {
    PluginType.RUN: "run",
    PluginType.POSTPROCESS: "process",
    PluginType.PIPELINE: "execute",
}
"""The method each execution kind must have."""

_ALIASES = {
    "run": PluginType.RUN,
    "run_backend": PluginType.RUN,
    "postprocess": PluginType.POSTPROCESS,
    "postprocessor": PluginType.POSTPROCESS,
    "pipeline": PluginType.PIPELINE,
    "pipeline_backend": PluginType.PIPELINE,
}


def plain_execution_class(cls: object, kind: PluginType) -> bool:
    """Whether ``cls`` is a plain class (no :class:`PluginBase`) with ``kind``'s method."""
    method = EXECUTION_METHODS.get(kind)
    return (
        method is not None
        and isinstance(cls, type)
        and not issubclass(cls, PluginBase)
        and callable(getattr(cls, method, None))
    )


def plain_execution_metadata(cls: object, kind: PluginType, name: str) -> PluginMetadata:
    """Metadata for a plain execution class: its entry-point name, kind and docstring."""
    doc = (cls.__doc__ or "").strip().splitlines()
    return PluginMetadata(name=name, type=kind, description=doc[0] if doc else "")


def _kind(kind: PluginType | str) -> PluginType:
    if isinstance(kind, PluginType) and kind in EXECUTION_METHODS:
        return kind
    found = _ALIASES.get(str(kind))
    if found is None:
        raise InvalidArgumentError(
            f"{kind!r} is not an execution plugin kind; expected one of "
            f"{sorted(str(k) for k in EXECUTION_METHODS)}"
        )
    return found


_FOUND: dict[tuple[PluginType, tuple[str, ...]], dict[str, im.EntryPoint]] = {}
"""Entry points per kind and ``sys.path``, read once: scanning the installed distributions
costs milliseconds, which a model run on the local backend cannot afford each time. A name
not found triggers one fresh scan (a package installed since)."""


def _entry_points(kind: PluginType, *, fresh: bool = False) -> dict[str, im.EntryPoint]:
    """The entry points of ``kind``'s group only (no other group is looked at or loaded)."""
    key = (kind, tuple(sys.path))
    if fresh or key not in _FOUND:
        found: dict[str, im.EntryPoint] = {}
        for ep in im.entry_points(group=kind.group):
            found.setdefault(ep.name, ep)
        _FOUND[key] = found
    return _FOUND[key]


def execution_plugin_names(kind: PluginType | str) -> list[str]:
    """The names declared in ``kind``'s entry-point group, sorted (nothing is imported)."""
    return sorted(_entry_points(_kind(kind), fresh=True))


def load_execution_plugin(kind: PluginType | str, name: str) -> type[Any]:
    """The class declared as ``name`` in the group of ``kind`` (``"run"``,
    ``"postprocess"``, ``"pipeline"``), imported now.

    Raises :class:`InvalidArgumentError` listing the known names when ``name`` is unknown,
    :class:`MissingDependencyError` when its module needs a library that is not installed,
    and :class:`InvalidValueError` when what it names has no ``run``/``process``/``execute``.

    >>> load_execution_plugin("postprocess", "noop")   # doctest: +SKIP
    <class 'ferrotrack.postprocess.noop.NoopPostprocessor'>
    """
    kind = _kind(kind)
    points = _entry_points(kind)
    ep = points.get(name)
    if ep is None:
        points = _entry_points(kind, fresh=True)
        ep = points.get(name)
    if ep is None:
        known = ", ".join(sorted(points)) or "none installed"
        raise InvalidArgumentError(
            f"no {kind} plugin named {name!r} in entry-point group {kind.group!r}; known: {known}"
        )
    package = ep.dist.metadata["Name"] if ep.dist is not None else ep.module
    try:
        target = ep.load()
    except ModuleNotFoundError as exc:
        missing = exc.name or "?"
        if missing.split(".", maxsplit=1)[0] == ep.module.split(".", maxsplit=1)[0]:
            raise
        raise MissingDependencyError(
            f"{kind} plugin {name!r} (package {package}) needs {missing!r}, which is not "
            f"installed: pip install {package}[{name}] or pip install {missing.split('.')[0]}"
        ) from exc
    method = EXECUTION_METHODS[kind]
    if not isinstance(target, type) or not callable(getattr(target, method, None)):
        raise InvalidValueError(
            f"{kind} plugin {name!r} ({ep.value}, package {package}) must be a class with a "
            f"{method}() method, got {target!r}"
        )
    return target


def get_execution_plugin(kind: PluginType | str, name: str) -> Any:
    """A ready instance of :func:`load_execution_plugin`'s class (a :class:`PluginBase` is
    initialized with its default config)."""
    instance = load_execution_plugin(kind, name)()
    if isinstance(instance, PluginBase) and instance.state == "created":
        instance.initialize({})
        advance_state(instance, "initialized")
    return instance


_T = TypeVar("_T")
_R = TypeVar("_R")

WAIT_SLICE_S = 0.2
"""How long a pool's waiter blocks at a time: Ctrl-C reaches the main thread between waits
(a plain ``Future.result()`` can miss it when another thread takes the signal)."""


def run_in_pool(
    fn: Callable[[_T], _R],
    items: Sequence[_T],
    max_concurrency: int,
    *,
    on_abort: Callable[[], object] | None = None,
    name: str = "ft-run",
) -> list[_R]:
    """``fn`` over ``items`` in a thread pool, at most ``max_concurrency`` at once; the
    results in order. On Ctrl-C (or any error), what has not started is dropped,
    ``on_abort`` is called (it should end what runs), the pool is waited for, and the error
    is raised again."""
    if max_concurrency < 1:
        raise InvalidArgumentError(f"max_concurrency: expected >= 1, got {max_concurrency}")
    pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix=name)
    futures: list[Future[_R]] = []
    try:
        futures = [pool.submit(fn, item) for item in items]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=WAIT_SLICE_S, return_when=FIRST_EXCEPTION)
            if any(f.done() and f.exception() is not None for f in futures):
                break
        results = [future.result() for future in futures]
    except BaseException:
        for future in futures:
            future.cancel()
        if on_abort is not None:
            on_abort()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results


def run_many(
    backend: Any,
    model_runs: Sequence[Any],
    *,
    max_concurrency: int = 4,
    on_abort: Callable[[], object] | None = None,
    **options: Any,
) -> list[bool]:
    """Each model run through a run backend, at most ``max_concurrency`` at once; one bool
    each, in order. A backend's own ``run_many`` fans out natively (Dask, Ray, a Slurm
    array); a plain one (seed 003's classes have only ``run``) gets a thread pool, whose
    abort calls the backend's ``cancel_all`` (if any), then ``on_abort``."""
    native = getattr(backend, "run_many", None)
    if callable(native):
        found = native(model_runs, max_concurrency=max_concurrency, **options)
        return [bool(ok) for ok in found]

    def abort() -> None:
        cancel_all = getattr(backend, "cancel_all", None)
        if callable(cancel_all):
            cancel_all()
        if on_abort is not None:
            on_abort()

    return run_in_pool(
        lambda model_run: bool(backend.run(model_run, **options)),
        model_runs,
        max_concurrency,
        on_abort=abort,
    )
