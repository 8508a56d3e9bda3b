"""The ``pytorch`` framework: what a ``SummaryWriter`` writes also lands in the active run.

Patches ``add_scalar``, ``add_scalars``, ``add_hparams`` and ``add_text`` of
``torch.utils.tensorboard.SummaryWriter`` and of ``tensorboardX.SummaryWriter`` (whichever
import), once per process, restored exactly when the last holder stops. The original still
writes the TensorBoard files unless the config says ``write_tensorboard: false``.

What goes where (the run active at the time of the call, :func:`ferrotrack.core.active_run`):

- ``add_scalar(tag, value, step, walltime)``: ``run.log(tag, value, step)``, at ``walltime``
  (seconds, as TensorBoard reads it, int or float) when given; a bool is 1.0 or 0.0, as
  TensorBoard writes it;
- ``add_scalars(main, {k: v}, step)``: one point ``main/k`` per entry;
- ``add_hparams(hparams, metrics)``: ``hparams`` as params, ``metrics`` as points;
- ``add_text(tag, text, step)``: a run event of kind ``text`` named ``tag`` (text is a
  series over steps, which a tag, one string per key, could not hold).

The hot path (``add_scalar``) hands the value straight to the run's native ``log``: no
:class:`~ferrotrack.core.plugins.MetricData` per call.

A forked child (a DataLoader worker) starts with no active run (core forgets the parent's
runs in a child): its calls are counted as dropped with one warning, in the child; a run
the child starts itself is captured as usual.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from ferrotrack.core import active
from ferrotrack.core.errors import MissingDependencyError, RunClosedError
from ferrotrack.core.plugins import FrameworkPlugin, PluginMetadata, PluginType
from ferrotrack.frameworks._support import (
    DISTRIBUTION,
    MetricSources,
    WarnOnce,
    as_number,
    foreign_patch,
    import_library,
    installed,
    require_version,
    settle,
    wrapper_like,
)

__all__ = ["PytorchConfig", "PytorchFramework"]

NAME = "pytorch"
METHODS = ("add_scalar", "add_scalars", "add_hparams", "add_text")
# (module holding SummaryWriter, library root whose version counts, extra, minimum, tested)
WRITERS = (
    ("torch.utils.tensorboard", "torch", "pytorch", "2.1", "2.15"),
    ("tensorboardX", "tensorboardX", "tensorboardx", "2.6", "2.6"),
)


class PytorchConfig(BaseModel):
    """``write_tensorboard``: whether the patched calls still write the TensorBoard files."""

    model_config = ConfigDict(extra="forbid")

    write_tensorboard: bool = True


class _Inside(threading.local):
    """Set while a patched ``add_hparams`` runs: its own inner ``add_scalar`` calls must
    not log the metrics a second time."""

    depth = 0


class _Capture:
    """What the patched methods share: where to count drops and the plugin's warnings."""

    __slots__ = ("inside", "plugin", "sources", "warn", "write")

    def __init__(self, plugin: PytorchFramework, write: bool) -> None:
        self.plugin = plugin
        self.write = write
        self.warn = WarnOnce(NAME)
        self.inside = _Inside()
        self.sources = MetricSources(NAME)

    def run(self, what: str) -> Any:
        """The active run, or ``None`` after counting ``what`` as dropped."""
        run = active.current()
        if run is None:
            import ferrotrack.core as ft

            run = ft.active_run()  # a process launched for a run ($FERROTRACK_RUN_DIR)
            if run is None:
                self.plugin.dropped += 1
                self.warn(
                    "no-run",
                    f"{what} was called with no active run: not recorded "
                    "(counted in the plugin's 'dropped'; start a run first)",
                    stacklevel=4,
                )
        return run

    def point(  # noqa: PLR0917
        self, run: Any, tag: str, value: Any, step: Any, walltime: Any, stacklevel: int = 4
    ) -> None:
        """One point. A tensor is read with ``.item()`` (``float()`` would warn about
        ``requires_grad``); a value that is not a number, or one the run refuses, is
        skipped with one warning per tag."""
        number = _number(value)
        if number is None:
            self.warn(
                f"value:{tag}",
                f"tag {tag!r} got a {type(value).__name__} value, not a number: "
                "skipped (warned once per tag)",
                stacklevel=stacklevel,
            )
            return
        try:
            run.log(tag, number, step, None if walltime is None else float(walltime))
        except Exception as exc:
            self.refused(tag, exc, stacklevel + 1)
            return
        if run is not self.sources.run or tag not in self.sources.names:
            self.sources.note(run, tag)

    def refused(self, tag: str, exc: Exception, stacklevel: int = 4) -> None:
        """Warns that the run refused a point: once per tag and kind of error, and once in
        all when the run was finished meanwhile."""
        closed = isinstance(exc, RunClosedError)
        self.warn(
            "closed" if closed else f"refused:{tag}:{type(exc).__name__}",
            f"tag {tag!r} was not recorded: {exc}",
            stacklevel=stacklevel,
        )


class PytorchFramework(FrameworkPlugin):
    """Captures ``SummaryWriter`` scalars, scalar groups, hparams and text into the run.

    Started by ``start_run(frameworks=["pytorch"])`` or by hand (``with
    PytorchFramework():``). Several instances share one set of patches; the config of the
    one that installed them applies. Values logged while no run is active are counted in
    :attr:`dropped` of that instance and warned about once.
    """

    writers: ClassVar[tuple[tuple[str, str, str, str, str], ...]] = WRITERS

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(
            name=NAME,
            type=PluginType.FRAMEWORK,
            description="SummaryWriter (torch and tensorboardX) calls also logged to the run",
            capabilities=frozenset({"metrics", "params", "events"}),
            config_model=PytorchConfig,
            extra="pytorch",
        )

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Neither ``torch`` with ``tensorboard`` nor ``tensorboardX`` is installed."""
        if installed("torch") and installed("tensorboard"):
            return None
        if installed("tensorboardX"):
            return None
        return (
            "neither torch.utils.tensorboard (torch and tensorboard) nor tensorboardX is "
            f"installed: pip install {DISTRIBUTION}[pytorch] or {DISTRIBUTION}[tensorboardx]"
        )

    def stop(self) -> None:
        """Restores the library (the last holder) and lets the metric facts handed to the
        worker thread reach the run's ``metrics.json`` before its store closes."""
        super().stop()
        settle()

    def install(self) -> None:
        """Patches the ``SummaryWriter`` of every library that imports (at least one must)."""
        config = self.config if isinstance(self.config, PytorchConfig) else PytorchConfig()
        capture = _Capture(self, config.write_tensorboard)
        found: list[tuple[type, ModuleType]] = []
        missing: list[str] = []
        for module, root, extra, minimum, tested in self.writers:
            if not (installed(root) and (root != "torch" or installed("tensorboard"))):
                missing.append(extra)
                continue
            library = import_library(NAME, root, extra)
            require_version(NAME, library, minimum, tested)
            writer = import_library(NAME, module, extra).SummaryWriter
            found.append((writer, library))
        if not found:
            raise MissingDependencyError(
                f"framework {NAME!r} needs torch with tensorboard, or tensorboardX: "
                + " or ".join(f"pip install {DISTRIBUTION}[{extra}]" for extra in missing)
            )
        for writer, library in found:
            for method in METHODS:
                current = vars(writer).get(method)
                if current is None:
                    continue
                who = foreign_patch(current, library)
                if who is not None:
                    capture.warn(
                        f"foreign:{writer.__module__}.{method}",
                        f"{writer.__module__}.SummaryWriter.{method} was already replaced by "
                        f"{who}; capturing through it",
                        stacklevel=6,
                    )
                self.patch(writer, method, _WRAPPERS[method](current, capture))


Wrapper = Callable[..., Any]


def _add_scalar(original: Wrapper, capture: _Capture) -> Wrapper:
    inside = capture.inside
    write = capture.write
    sources = capture.sources

    def add_scalar(
        self: Any,
        tag: str,
        scalar_value: Any,
        global_step: Any = None,
        walltime: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        result = (
            original(self, tag, scalar_value, global_step, walltime, *args, **kwargs)
            if write
            else None
        )
        if inside.depth:
            return result
        run = active.current() or capture.run("add_scalar")
        if run is None:
            return result
        if type(scalar_value) is float and walltime is None:  # the common case: straight on
            try:
                run.log(tag, scalar_value, global_step)
            except Exception as exc:
                capture.refused(tag, exc, 4)
                return result
            if run is not sources.run or tag not in sources.names:
                sources.note(run, tag)  # once per run and tag, written off this thread
        else:
            capture.point(run, tag, scalar_value, global_step, walltime, 4)
        return result

    return wrapper_like(add_scalar, original)


def _add_scalars(original: Wrapper, capture: _Capture) -> Wrapper:
    def add_scalars(
        self: Any,
        main_tag: str,
        tag_scalar_dict: Mapping[str, Any],
        global_step: Any = None,
        walltime: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        result = (
            original(self, main_tag, tag_scalar_dict, global_step, walltime, *args, **kwargs)
            if capture.write
            else None
        )
        if capture.inside.depth:
            return result
        run = capture.run("add_scalars")
        if run is not None:
            for key, value in tag_scalar_dict.items():
                capture.point(run, f"{main_tag}/{key}", value, global_step, walltime)
        return result

    return wrapper_like(add_scalars, original)


def _add_hparams(original: Wrapper, capture: _Capture) -> Wrapper:
    at = _position(original, "global_step", before=("self", "hparam_dict", "metric_dict"))

    def add_hparams(
        self: Any,
        hparam_dict: Mapping[str, Any],
        metric_dict: Mapping[str, Any],
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        result = None
        if capture.write:
            capture.inside.depth += 1  # its own add_scalar calls are the metrics below
            try:
                result = original(self, hparam_dict, metric_dict, *args, **kwargs)
            finally:
                capture.inside.depth -= 1
        if capture.inside.depth:
            return result
        run = capture.run("add_hparams")
        if run is None:
            return result
        params = {str(key): _param(value) for key, value in hparam_dict.items()}
        if params:
            try:
                run.log_params(params)
            except Exception as exc:
                capture.warn(f"params:{type(exc).__name__}", f"hparams not recorded: {exc}")
        step = kwargs.get("global_step", args[at] if at is not None and at < len(args) else None)
        for key, value in metric_dict.items():
            capture.point(run, str(key), value, step, None)
        return result

    return wrapper_like(add_hparams, original)


def _add_text(original: Wrapper, capture: _Capture) -> Wrapper:
    def add_text(
        self: Any,
        tag: str,
        text_string: Any,
        global_step: Any = None,
        walltime: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        result = (
            original(self, tag, text_string, global_step, walltime, *args, **kwargs)
            if capture.write
            else None
        )
        if capture.inside.depth:
            return result
        run = capture.run("add_text")
        if run is not None:
            try:
                run.log_event("text", str(text_string), name=str(tag), step=global_step)
            except Exception as exc:
                capture.warn(
                    f"text:{tag}:{type(exc).__name__}", f"text {tag!r} was not recorded: {exc}"
                )
        return result

    return wrapper_like(add_text, original)


def _number(value: Any) -> float | None:
    """``value`` as :func:`as_number` reads it, and a bool (Python, numpy, a one-element
    tensor) as 1.0 or 0.0: TensorBoard writes those, and the run holds the same scalars."""
    number = as_number(value)
    if number is not None:
        return number
    item = getattr(value, "item", None)
    if callable(item) and type(value) is not bool:
        try:
            value = item()
        except (ValueError, RuntimeError, TypeError):
            return None
    return float(value) if type(value) is bool else None


def _position(function: Wrapper, name: str, *, before: tuple[str, ...]) -> int | None:
    """Where ``name`` sits among the positional arguments after ``before`` (torch and
    tensorboardX order ``add_hparams``'s differently); ``None`` when it cannot be told."""
    try:
        names = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None
    if name not in names or names[: len(before)] != list(before):
        return None
    return names.index(name) - len(before)


def _param(value: Any) -> Any:
    """An hparam as a JSON value: numbers (tensors too) as numbers, the rest as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            value = item()  # a tensor or numpy scalar: its Python number
        except (ValueError, RuntimeError, TypeError):
            return str(value)
        if isinstance(value, bool | int | float | str):
            return value
    return str(value)


_WRAPPERS: dict[str, Callable[[Wrapper, _Capture], Wrapper]] = {
    "add_scalar": _add_scalar,
    "add_scalars": _add_scalars,
    "add_hparams": _add_hparams,
    "add_text": _add_text,
}
