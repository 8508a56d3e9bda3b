"""``FerrotrackCallback``: a Hugging Face ``TrainerCallback`` that logs into a ferrotrack run.

- ``on_train_begin``: the ``TrainingArguments`` (``to_dict()``, which hides ``*_token``
  values) as params, the model's config as params under ``model``;
- ``on_log``: every number of the Trainer's logs as a point at ``state.global_step``; the
  Trainer also sends its final metrics (``train_runtime``, ``train_loss``...) and
  ``evaluate()``'s metrics (``eval_loss``...) through ``on_log``, so they arrive there and
  ``on_evaluate`` logs nothing more (it would log them twice); a value that is not a number
  is skipped with one warning per key;
- ``on_train_end``: a run event ``train_end`` with the final step, epoch and FLOs.

Only the main process (``state.is_world_process_zero``) logs.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ferrotrack.core.errors import RunClosedError
from ferrotrack.core.run import Run, Status
from ferrotrack.frameworks._support import MetricSources, WarnOnce, as_number, settle
from ferrotrack.frameworks.transformers.plugin import NAME, check_version

check_version()  # a missing library names the extra; an old one, the supported range

from transformers import (  # noqa: E402  (after the check that gives the install hint)
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

__all__ = ["FerrotrackCallback", "json_ready"]


class _Counter(Protocol):
    dropped: int


class FerrotrackCallback(TrainerCallback):
    """Logs a ``Trainer``'s arguments, model config, logs and final metrics into a run.

    The run is ``run`` when given, else the run active at each call. With none active at
    ``on_train_begin`` and ``start_run=True`` (the default) the callback starts one of its
    own, named ``run_name`` or ``args.run_name`` or the output folder's name, in
    ``experiment``; that run stays open after training so that ``trainer.evaluate()``
    lands in it too, and is finished by :meth:`finish`, by the next training of this
    callback, or at interpreter exit. A next training with a run of the user's active
    logs into that one. Values arriving with no run are counted in
    :attr:`dropped` (or in ``counter.dropped``: the plugin that added the callback) and
    warned about once.

    >>> trainer = Trainer(model, args, callbacks=[FerrotrackCallback()])  # doctest: +SKIP
    """

    def __init__(
        self,
        run: Run | None = None,
        *,
        start_run: bool = True,
        experiment: str | None = None,
        run_name: str | None = None,
        counter: _Counter | None = None,
    ) -> None:
        check_version()  # a library changed since import (tests patch its version) is caught
        self.run = run
        self.start_run = start_run
        self.experiment = experiment
        self.run_name = run_name
        self.owned_run: Run | None = None
        self.dropped = 0
        self._counter: _Counter = self if counter is None else counter
        self._warn = WarnOnce(NAME)
        self._sources = MetricSources(NAME)

    # --- where values go -------------------------------------------------------------------

    def _target(self, what: str) -> Run | None:
        if self.run is not None:
            return self.run
        import ferrotrack.core as ft

        run = ft.active_run()
        if run is None:
            self._counter.dropped += 1
            self._warn(
                "no-run",
                f"{what} came with no active run: not recorded (counted in 'dropped'; "
                "start a run, or let the callback start one with start_run=True)",
                stacklevel=4,
            )
        return run

    def _open(self, args: TrainingArguments) -> Run:
        import ferrotrack.core as ft

        self.finish()
        name = self.run_name or getattr(args, "run_name", None) or Path(args.output_dir or ".").name
        options: dict[str, Any] = {} if self.experiment is None else {"experiment": self.experiment}
        self.owned_run = ft.start_run(name or "transformers", **options)
        return self.owned_run

    def finish(self, status: Status = "finished") -> None:
        """Finishes the run this callback started, if any (``status`` as ``Run.finish``)."""
        run, self.owned_run = self.owned_run, None
        if run is not None:
            settle()  # the metric facts in metrics.json before the run closes
            run.finish(status)

    # --- the Trainer's events ----------------------------------------------------------------

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> None:
        """The arguments and the model's config as params."""
        if not state.is_world_process_zero:
            return
        if self.run is None and self.start_run:
            import ferrotrack.core as ft

            active = ft.active_run()
            if active is None or active is self.owned_run:
                self._open(args)  # a fresh run per training; finishes the previous own one
            else:
                self.finish()  # a run the user started since: the training goes there
        run = self._target("on_train_begin")
        if run is None:
            return
        to_dict: Any = args.to_dict  # untyped in transformers
        params = json_ready(to_dict())
        config = getattr(model, "config", None)
        config_dict = getattr(config, "to_dict", None)
        if callable(config_dict):
            params["model"] = json_ready(config_dict())
        try:
            run.log_params(params)
        except Exception as exc:
            self._refused("params", exc)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Every number of ``logs`` as a point at the global step."""
        if not state.is_world_process_zero or not logs:
            return
        run = self._target("on_log")
        if run is None:
            return
        points: dict[str, float] = {}
        for key, value in logs.items():
            number = as_number(value)
            if number is None:
                self._warn(
                    f"value:{key}",
                    f"log {key!r} has a {type(value).__name__} value, not a number: "
                    "skipped (warned once per key)",
                )
            else:
                points[key] = number
        if not points:
            return
        step = state.global_step
        try:
            run.log(points, step=step)
        except RunClosedError as exc:
            self._refused("logs", exc)
            return
        except Exception:
            for key, number in list(points.items()):  # one refused name must not lose others
                try:
                    run.log(key, number, step)
                except Exception as exc:
                    self._refused(f"log {key!r}", exc)
                    del points[key]
        self._sources.note(run, *points)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """Nothing new to log (the metrics came through :meth:`on_log` just before); waits
        for their facts to reach ``metrics.json``, so an evaluation ends complete."""
        if state.is_world_process_zero:
            settle()

    def on_train_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        **kwargs: Any,
    ) -> None:
        """A ``train_end`` event with the final step, epoch and FLOs."""
        if not state.is_world_process_zero:
            return
        run = self._target("on_train_end")
        if run is None:
            return
        data = json_ready(
            {"global_step": state.global_step, "epoch": state.epoch, "total_flos": state.total_flos}
        )
        try:
            run.log_event("train_end", step=state.global_step, data=data)
        except Exception as exc:
            self._refused("the train_end event", exc)
        settle()

    def _refused(self, what: str, exc: Exception) -> None:
        """Warns once per kind of refusal: once in all for a finished run, else once per
        ``what`` and kind of error."""
        if isinstance(exc, RunClosedError):
            key = "closed"
            message = f"the run is finished: {what} and what follows are not recorded ({exc})"
        else:
            key = f"{what}:{type(exc).__name__}"
            message = f"{what} not recorded: {exc}"
        self._warn(key, message, stacklevel=4)


def json_ready(value: Any) -> Any:
    """``value`` as JSON params hold it: mappings (keys as text), lists, strings, finite
    numbers, booleans and ``None`` stay; enums become their value; tuples and sets become
    lists; NaN, infinities and anything else become their text.

    >>> json_ready({"lr": 0.1, 1: (2, float("inf")), "dtype": Path("x")})
    {'lr': 0.1, '1': [2, 'inf'], 'dtype': 'x'}
    """
    if value is None or isinstance(value, bool | int | str):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return json_ready(value.value)
    if isinstance(value, Mapping):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(item) for item in value]
    item = getattr(value, "item", None)
    if callable(item):  # numpy scalars, one-element tensors
        try:
            plain = item()
        except (ValueError, RuntimeError, TypeError):
            plain = None
        if isinstance(plain, bool | int | float | str):
            return json_ready(plain)
    return str(value)
