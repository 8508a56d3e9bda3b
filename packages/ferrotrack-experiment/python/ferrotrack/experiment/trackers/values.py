"""Values as the store takes them: metric keys as names, event data as JSON, ``CUSTOM``
pairs and confusion matrices checked.

Apart from ``TrackerManager`` so that its hooks stay about what is recorded when, and these
conversions can be read (and tested) on their own.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Final

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.experiment.common import METRIC_NAMES, UNTRACKED_METRICS, Level, Metric, RunStatus

__all__ = [
    "as_integer",
    "json_object",
    "json_safe",
    "key_text",
    "matrix",
    "metric_name",
    "named_metrics",
    "pairs",
    "plain_params",
]

_NAMES: dict[Any, str] = dict(METRIC_NAMES)
_PLAIN: Final = frozenset({str, int, bool, type(None)})


def metric_name(metric: Metric | str) -> str | None:
    """The name ``metric`` is stored under: ``METRIC_NAMES`` for scalar keys, the string
    itself for a ``str``; ``None`` for keys that are not one scalar series (``CUSTOM``
    carries its own names, ``CONFUSION`` is an event, the untracked keys are never stored)."""
    if isinstance(metric, str):
        return metric
    return _NAMES.get(metric)


def json_safe(value: Any) -> Any:
    """``value`` as JSON data for an event: enums by their names (``Metric`` keys by their
    metric names), numpy values as Python ones, anything else by a short ``repr``."""
    if isinstance(value, Enum):  # first: IntEnum members are ints too
        return _enum_text(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {key_text(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist):
        try:
            return json_safe(tolist())
        except Exception:  # a failing tolist(): fall back to the repr below
            pass
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def json_object(data: dict[str, Any]) -> dict[str, Any]:
    """``json_safe`` of event data, skipping the walk when every value is a plain scalar
    (an epoch's ``{"epoch_id": 3}``)."""
    for value in data.values():
        if type(value) not in _PLAIN:
            safe: dict[str, Any] = json_safe(data)
            return safe
    return data


def _enum_text(value: Enum) -> str:
    if isinstance(value, Metric):
        return _NAMES.get(value) or value.name.lower()
    if isinstance(value, Level):
        return value.label
    if isinstance(value, RunStatus):
        return value.value
    return value.name


def key_text(key: Any) -> str:
    """A mapping key as event data's key: an enum by its name (``Metric`` by metric name)."""
    return _enum_text(key) if isinstance(key, Enum) else str(key)


def pairs(value: Any) -> list[tuple[str, Any]]:
    """``Metric.CUSTOM``'s value as ``(name, value)`` pairs: one pair or a list of them."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return [(value[0], value[1])]
    if isinstance(value, list | tuple):
        out = []
        for item in value:
            if not (isinstance(item, list | tuple) and len(item) == 2 and isinstance(item[0], str)):
                break
            out.append((item[0], item[1]))
        else:
            return out
    raise InvalidArgumentError(
        f"track(Metric.CUSTOM, ...): expected (name, value) or a list of (name, value) "
        f"pairs with str names, got {json_safe(value)!r}"
    )


def matrix(value: Any) -> list[list[Any]]:
    """A confusion matrix as a list of rows (numpy arrays and nested sequences)."""
    tolist = getattr(value, "tolist", None)
    rows = tolist() if callable(tolist) else value
    if isinstance(rows, list | tuple) and all(isinstance(r, list | tuple) for r in rows):
        return [[json_safe(x) for x in row] for row in rows]
    raise InvalidArgumentError(
        f"track(Metric.CONFUSION, ...): expected a 2-D matrix, got {type(value).__name__}"
    )


def named_metrics(metrics: Mapping[Any, Any]) -> dict[str, Any]:
    """Checkpoint metrics by store name; ``CUSTOM`` pairs by their own names; untracked
    keys dropped."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if key in UNTRACKED_METRICS:
            continue
        if key is Metric.CUSTOM:
            try:
                out.update(pairs(value))
            except InvalidArgumentError:
                out["custom"] = value
            continue
        out[key_text(key)] = value
    return out


def as_integer(value: Any) -> int | None:
    """``value`` as an int when it is an integer (numpy's too), not a bool; else ``None``."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def plain_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as a plain dict (an omegaconf config resolved), as ``Run.log_params`` takes."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(params, DictConfig):
        data = OmegaConf.to_container(params, resolve=True)
        assert isinstance(data, dict)
        return {str(k): v for k, v in data.items()}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError(
            f"log_params: expected a mapping of names to values, got {type(params).__name__}"
        )
    return dict(params)
