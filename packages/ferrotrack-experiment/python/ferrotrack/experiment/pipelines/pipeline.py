"""``Pipeline``: the user's training code, with the run and epoch lifecycle around it.

``@Pipeline.run_wrapper`` on ``run`` records the PIPELINE level's start and end, runs the
callbacks' ``on_start``/``on_end``, tracks ``run_metrics`` and turns the outcome into
``status``: a ``StopTraining`` is an early stop (``STOPPED``, not an error), any other
exception ``FAILED`` and re-raised (the experiment decides whether the other trials go on).

``@Pipeline.epoch_wrapper`` on a per-epoch method records the EPOCH level's start and end;
the end (``tracker_manager.on_end(Level.EPOCH)``, or ``end_epoch`` directly when no tracker
manager calls it) tracks ``epoch_metrics`` as ``epoch/<name>`` at step = epoch index and asks
the callbacks whether to stop; ``epoch_metrics`` is cleared in ``finally`` so that one
epoch's values never leak into the next (the Experiment Manager's bug seed 001 reports).
A stop there does not raise out of the epoch: the remaining calls of the wrapped method
return ``RunStatus.SKIPPED`` at once, so the user's plain ``for`` loop runs out and the code
after it (the final test evaluation, ``run_metrics``) still runs; ``status`` is ``STOPPED``.
A pipeline that manages epochs by hand calls the same ``on_create``/``on_start``/``on_end``
and gets the same tracking; there a stop raises ``StopTraining`` out of
``on_end(Level.EPOCH)`` (nothing else would end the loop), which ``run_wrapper`` records.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from ferrotrack.experiment.callbacks.callback import Callback
from ferrotrack.experiment.common import UNTRACKED_METRICS, Level, RunStatus
from ferrotrack.experiment.errors import CallbackError, PipelineError
from ferrotrack.experiment.serializable import YAMLSerializable

if TYPE_CHECKING:
    from ferrotrack.experiment.environment import Environment

__all__ = ["RUN_WRAPPER_MARK", "Pipeline", "StopTraining"]

F = TypeVar("F", bound=Callable[..., Any])

RUN_WRAPPER_MARK: Final = "__ferrotrack_run_wrapper__"
"""The attribute ``run_wrapper`` sets on what it returns; the factory refuses a ``run``
without it (its lifecycle, tracking and status would silently be missing)."""

# Enum members as plain globals: ``Level.EPOCH`` costs ~170 ns on Python 3.11 (the enum
# metaclass), and the epoch wrapper is on the training loop's path.
_EPOCH: Final = Level.EPOCH
_STOPPED: Final = RunStatus.STOPPED
_SKIPPED: Final = RunStatus.SKIPPED
_FAILED_RESULTS: Final = (RunStatus.FAILED, RunStatus.ABORTED)
MAX_SKIPPED_EPOCHS: Final = 10_000
"""Calls of a wrapped epoch after a stop that are skipped quietly; past them the loop is
taken for an open-ended one (``while True``) and ``StopTraining`` ends it."""
_UNTRACKED: Final = UNTRACKED_METRICS


class StopTraining(Exception):
    """Ends training early: returned or raised by a callback's ``on_epoch_end``, or raised by
    the pipeline's own code. ``run_wrapper`` records ``RunStatus.STOPPED`` and ``reason``."""

    def __init__(self, reason: str = "training stopped") -> None:
        super().__init__(reason)
        self.reason = reason


class Pipeline(YAMLSerializable, ABC):
    """Base of the user's pipelines. Subclasses implement ``run`` under ``@run_wrapper``.

    ``epoch_metrics`` (filled during an epoch) is tracked per epoch and handed to the
    callbacks; ``run_metrics`` (filled by the end of ``run``) is tracked once, under the plain
    metric names. Subclasses without ``__init__`` or ``from_config`` get these defaults.
    """

    # Class-level defaults, so that a subclass that never calls ``Pipeline.__init__`` still
    # has them (the wrappers read them on every epoch; instance values shadow them).
    _epoch_done: bool = False
    _epoch_skip: bool = False
    _stop: StopTraining | None = None
    _skipped: int = 0

    def __init__(self, env: Environment, id: int | None = None) -> None:
        self.env = env
        self.id = id
        self.name: str = type(self).__name__
        self.callbacks: list[Callback] = []
        self.run_metrics: dict[Any, Any] = {}
        self.epoch_metrics: dict[Any, Any] = {}
        self.status: RunStatus = RunStatus.RUNNING
        """``RUNNING`` until ``run`` ends; then ``COMPLETED``, ``STOPPED``, ``FAILED`` or
        ``ABORTED`` (interrupted)."""
        self.stop_reason: str | None = None

    @property
    def stop_requested(self) -> bool:
        """Whether an epoch asked to stop (a callback, ``StopTraining`` or a returned
        ``RunStatus.STOPPED``); the remaining wrapped epochs are skipped."""
        return self._stop is not None

    def register_callback(self, callback: Callback) -> None:
        """Adds ``callback``; it gets this pipeline's environment if it has none."""
        if not isinstance(callback, Callback):
            raise TypeError(
                f"register_callback: expected a Callback instance, got {type(callback).__name__}"
            )
        if callback.env is None:
            callback.env = self.env
        _state(self)
        self.callbacks.append(callback)

    @classmethod
    def from_config(cls, config: Any, env: Environment, id: int | None = None) -> Pipeline:
        """``cls(env, id)``; override to read the config."""
        return cls(env, id)

    @abstractmethod
    def run(self, config: Any) -> Any:
        """The pipeline's work; decorate it with ``@Pipeline.run_wrapper``."""

    # --- the run -------------------------------------------------------------------------------

    @staticmethod
    def run_wrapper(fn: F) -> F:
        """Decorates ``run``: the PIPELINE lifecycle, callbacks, ``run_metrics`` and status."""

        @functools.wraps(fn)
        def run(self: Pipeline, config: Any, *args: Any, **kwargs: Any) -> Any:
            _state(self)
            manager = self.env.tracker_manager
            self.status = RunStatus.RUNNING
            self.stop_reason = None
            self._stop = None
            self._skipped = 0
            manager.attach_pipeline(self)
            error: BaseException | None = None
            result: Any = None
            try:
                manager.on_create(Level.PIPELINE, name=self.name, pipeline_id=self.id)
                manager.on_start(Level.PIPELINE)
                for callback in self.callbacks:
                    _call(callback, "on_start")
                result = fn(self, config, *args, **kwargs)
                if self._stop is None:
                    self.status = RunStatus.COMPLETED
                else:  # an epoch asked to stop; the later ones were skipped
                    self.status = RunStatus.STOPPED
                    self.stop_reason = self._stop.reason
            except StopTraining as stop:
                self.status = RunStatus.STOPPED
                self.stop_reason = stop.reason
            except BaseException as exc:
                self.status = (
                    RunStatus.ABORTED if isinstance(exc, KeyboardInterrupt) else RunStatus.FAILED
                )
                error = exc
            end_error = self._end_run(error)
            if error is not None:
                raise error
            if end_error is not None:
                raise end_error
            return result

        setattr(run, RUN_WRAPPER_MARK, True)
        return cast(F, run)

    def _end_run(self, error: BaseException | None) -> BaseException | None:
        """Tracks ``run_metrics``, runs the callbacks' ``on_end`` and records the PIPELINE
        end. Returns the first failure of these when ``run`` itself did not fail (it makes
        the run FAILED); with ``error`` set, later failures are attached to it as notes."""
        manager = self.env.tracker_manager
        end_error: BaseException | None = None

        def failed(exc: BaseException) -> None:
            nonlocal end_error
            if error is None and end_error is None:
                end_error = exc
            else:
                (error or end_error).add_note(f"while ending the pipeline: {exc!r}")  # type: ignore[union-attr]

        try:
            tracked = {k: v for k, v in self.run_metrics.items() if k not in UNTRACKED_METRICS}
            if tracked:
                manager.track_dict(tracked)
        except Exception as exc:
            failed(exc)
        for callback in self.callbacks:
            try:
                _call(callback, "on_end", dict(self.run_metrics))
            except StopTraining:
                pass  # the run is over; nothing left to stop
            except Exception as exc:
                failed(exc)
        if end_error is not None:
            self.status = RunStatus.FAILED
        ctx: dict[str, Any] = {"status": self.status.value}
        if self.stop_reason is not None:
            ctx["reason"] = self.stop_reason
        try:
            manager.on_end(Level.PIPELINE, **ctx)
        except Exception as exc:
            failed(exc)
        finally:
            manager.detach_pipeline()
        return end_error

    # --- epochs --------------------------------------------------------------------------------

    @staticmethod
    def epoch_wrapper(fn: F) -> F:
        """Decorates a per-epoch method whose first argument is the epoch index: the EPOCH
        lifecycle, ``epoch_metrics`` tracked and cleared, callbacks asked whether to stop.

        The method may return anything (a ``RunStatus`` as in the guides); returning
        ``RunStatus.STOPPED`` stops training like a ``StopTraining``. Once training stopped,
        calls return ``RunStatus.SKIPPED`` without running the method.
        """

        @functools.wraps(fn)
        def epoch(self: Pipeline, epoch_idx: int, *args: Any, **kwargs: Any) -> Any:
            if self._stop is not None:
                self._skipped += 1
                if self._skipped > MAX_SKIPPED_EPOCHS:
                    raise StopTraining(self._stop.reason)
                return _SKIPPED
            manager = self.env.tracker_manager
            manager.on_create(_EPOCH, epoch_id=epoch_idx)
            manager.on_start(_EPOCH)
            try:
                try:
                    result = fn(self, epoch_idx, *args, **kwargs)
                except StopTraining as stop:
                    self._close_stopped_epoch(epoch_idx)
                    self._stop = stop
                    return _STOPPED
                except BaseException as exc:
                    self._close_failed_epoch(exc)
                    raise
                self._epoch_done = False
                try:
                    manager.on_end(_EPOCH)
                    if not self._epoch_done:  # no pipeline attached to the manager
                        self.end_epoch(epoch_idx)
                except StopTraining as stop:
                    self._stop = stop
            finally:
                self.epoch_metrics.clear()
            if result is _STOPPED and self._stop is None:
                self._stop = StopTraining(
                    f"{fn.__qualname__} returned RunStatus.STOPPED at epoch {epoch_idx}"
                )
            elif result in _FAILED_RESULTS:
                raise PipelineError(
                    f"{fn.__qualname__} returned {result} at epoch {epoch_idx}: the trial run "
                    "fails (raise the error itself to keep its traceback)"
                )
            return result

        return cast(F, epoch)

    def _close_stopped_epoch(self, epoch_idx: int) -> None:
        """Ends an epoch whose own code raised ``StopTraining``: its metrics are tracked and
        the callbacks see them as for any epoch; their answer no longer matters."""
        self._epoch_done = False
        try:
            self.env.tracker_manager.on_end(Level.EPOCH, status=RunStatus.STOPPED.value)
            if not self._epoch_done:
                self.end_epoch(epoch_idx)
        except StopTraining:
            pass

    def _close_failed_epoch(self, exc: BaseException) -> None:
        """Records the end of an epoch that raised, without tracking its partial metrics or
        asking the callbacks (``end_epoch`` is skipped)."""
        self._epoch_skip = True
        try:
            self.env.tracker_manager.on_end(Level.EPOCH, status=RunStatus.FAILED.value)
        except Exception as end_exc:
            exc.add_note(f"while ending the epoch: {end_exc!r}")
        finally:
            self._epoch_skip = False

    def end_epoch(self, epoch_idx: int) -> None:
        """Tracks ``epoch_metrics`` (untracked keys left out) as ``epoch/<name>`` at step
        ``epoch_idx`` and gives each callback a copy; raises ``StopTraining`` when one asks to
        stop (after all of them ran). Called by ``TrackerManager.on_end(Level.EPOCH)``."""
        if self._epoch_skip:
            return
        self._epoch_done = True
        metrics = self.epoch_metrics
        if metrics:
            if _UNTRACKED.isdisjoint(metrics):  # the common case: no copy
                self.env.tracker_manager.track_epoch(metrics, epoch_idx)
            else:
                tracked = {k: v for k, v in metrics.items() if k not in _UNTRACKED}
                if tracked:
                    self.env.tracker_manager.track_epoch(tracked, epoch_idx)
        if self.callbacks:
            self._ask_callbacks(epoch_idx)

    def _ask_callbacks(self, epoch_idx: int) -> None:
        stop: StopTraining | None = None
        for callback in self.callbacks:
            try:
                verdict = callback.on_epoch_end(epoch_idx, dict(self.epoch_metrics))
            except StopTraining as raised:
                verdict = raised
            except Exception as exc:
                raise _callback_error(callback, "on_epoch_end", exc) from exc
            if verdict is None or verdict is False:
                continue
            if verdict is not True and not isinstance(verdict, StopTraining):
                as_bool = _numpy_bool(verdict)
                if as_bool is None:
                    raise CallbackError(
                        f"callback {type(callback).__name__}.on_epoch_end returned "
                        f"{verdict!r} ({type(verdict).__name__}); expected True or a "
                        f"StopTraining to stop, False or None to go on"
                    )
                if not as_bool:
                    continue
                verdict = True
            if verdict is True:
                verdict = StopTraining(
                    f"{type(callback).__name__} asked to stop after epoch {epoch_idx}"
                )
            if stop is None:
                stop = verdict
        if stop is not None:
            raise stop


def _state(pipeline: Pipeline) -> None:
    """Gives a pipeline whose ``__init__`` skipped ``Pipeline.__init__`` its attributes."""
    fields = pipeline.__dict__
    if "callbacks" in fields and "epoch_metrics" in fields:
        return
    if "env" not in fields:
        raise PipelineError(
            f"pipeline {type(pipeline).__name__} has no env: its __init__ must call "
            f"Pipeline.__init__(self, env, id)"
        )
    fields.setdefault("id", None)
    fields.setdefault("name", type(pipeline).__name__)
    fields.setdefault("callbacks", [])
    fields.setdefault("run_metrics", {})
    fields.setdefault("epoch_metrics", {})
    fields.setdefault("status", RunStatus.RUNNING)
    fields.setdefault("stop_reason", None)


def _call(callback: Callback, hook: str, *args: Any) -> None:
    """Runs one callback hook; an exception other than ``StopTraining`` becomes a
    ``CallbackError`` naming the callback and the hook."""
    try:
        getattr(callback, hook)(*args)
    except StopTraining:
        raise
    except Exception as exc:
        raise _callback_error(callback, hook, exc) from exc


def _callback_error(callback: Callback, hook: str, exc: BaseException) -> CallbackError:
    return CallbackError(
        f"callback {type(callback).__name__}.{hook} raised {type(exc).__name__}: {exc}"
    )


def _numpy_bool(value: object) -> bool | None:
    """``bool(value)`` for a numpy boolean scalar (what ``loss > best`` gives), else None."""
    kind = type(value)
    if kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool"):
        return bool(value)
    return None
