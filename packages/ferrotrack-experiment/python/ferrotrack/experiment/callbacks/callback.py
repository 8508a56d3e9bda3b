"""``Callback``: code a pipeline runs at its start, after each epoch and at its end.

``on_epoch_end`` answers whether training should stop: ``True`` or a ``StopTraining``
(returned or raised) stops it, ``False`` and ``None`` let it go on. The Experiment
Manager's README said the opposite ("return False to stop") while its pipeline guide returns
``False  # Continue training``; the guide's code must run unchanged, so ``False`` goes on, and
``StopTraining("why")`` is the answer that cannot be misread.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self

from ferrotrack.experiment.common import METRIC_NAMES, Metric
from ferrotrack.experiment.errors import ConfigError
from ferrotrack.experiment.sections import section_fields
from ferrotrack.experiment.serializable import YAMLSerializable

if TYPE_CHECKING:
    from ferrotrack.experiment.environment import Environment
    from ferrotrack.experiment.pipelines.pipeline import StopTraining

__all__ = ["Callback", "config_fields", "named_metrics"]


class Callback(YAMLSerializable):
    """Base of every callback; all hooks do nothing by default.

    ``env`` is the pipeline's environment (its tracker manager, workspace, logger); a
    callback made without one gets the pipeline's when it is registered.
    """

    def __init__(self, env: Environment | None = None) -> None:
        self.env = env

    def on_start(self) -> None:
        """Called once when the pipeline's ``run`` starts (reset per-run state here)."""

    def on_epoch_end(self, epoch_idx: int, metrics: dict[Any, Any]) -> bool | StopTraining | None:
        """Called after each epoch with a copy of its ``epoch_metrics`` (``Metric`` or name
        keys, untracked ones included). ``True`` or a ``StopTraining`` stops training."""
        return None

    def on_end(self, metrics: dict[Any, Any]) -> None:
        """Called once when the pipeline's ``run`` ends, whatever the outcome, with a copy of
        its ``run_metrics``."""

    @classmethod
    def from_config(cls, config: Any, env: Environment | None = None) -> Self:
        """``cls(env, **fields)``: the config section's fields but ``type`` are keyword
        arguments. A field the class does not take is a ``ConfigError`` naming it."""
        fields = config_fields(config)
        signature = inspect.signature(cls)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        unknown = [] if takes_any else sorted(set(fields) - set(signature.parameters))
        if unknown:
            raise ConfigError(
                f"callback {cls.__name__} has no field {unknown[0]!r}; it takes {_parameters(cls)}",
                key=unknown[0],
            )
        try:
            signature.bind(env, **fields)
        except TypeError as exc:
            raise ConfigError(
                f"callback {cls.__name__}: {exc}; it takes {_parameters(cls)}"
            ) from None
        return cls(env, **fields)


def config_fields(config: Any) -> dict[str, Any]:
    """A config section (``DictConfig``, mapping or ``None``) as a plain dict without ``type``."""
    return section_fields(config, "a callback section must be a mapping")


def _parameters(cls: type) -> str:
    names = [
        p.name
        for p in list(inspect.signature(cls).parameters.values())[1:]
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return ", ".join(names) if names else "no fields"


def named_metrics(metrics: Mapping[Any, Any], *, untracked: bool = False) -> dict[str, Any]:
    """``epoch_metrics`` by store name: ``Metric`` keys by ``METRIC_NAMES``, ``CUSTOM`` pairs
    (one or a list) by their own names, plain ``str`` keys as they are. Other keys (network,
    data, confusion...) are left out; ``CUSTOM_UNTRACKED`` pairs only with ``untracked``."""
    named: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(key, Metric):
            name = METRIC_NAMES.get(key)
            if name is not None:
                named[name] = value
            elif key is Metric.CUSTOM or (untracked and key is Metric.CUSTOM_UNTRACKED):
                named.update(_pairs(value))
        elif isinstance(key, str):
            named[key] = value
    return named


def _pairs(value: Any) -> list[tuple[str, Any]]:
    """``(name, value)`` or a list of them, as ``Metric.CUSTOM`` takes."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [
            (p[0], p[1])
            for p in value
            if isinstance(p, (tuple, list)) and len(p) == 2 and isinstance(p[0], str)
        ]
    return []
