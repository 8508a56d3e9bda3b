"""Lightning hyperparameters as ferrotrack params: nested JSON, whatever the model saved.

``save_hyperparameters()`` keeps anything a constructor took: Namespaces, ``AttributeDict``,
paths, enums, tensors, classes, functions. ``params.json`` holds JSON only, so each value
becomes the nearest JSON value instead of failing the whole call; what JSON can already
hold is kept exactly (tuples become lists, as JSON has no tuple).
"""

from __future__ import annotations

import enum
import math
import os
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from ferrotrack.core.errors import InvalidValueError

__all__ = ["MAX_ARRAY", "to_params"]

MAX_ARRAY = 64
"""Arrays and tensors with more elements are recorded as a short description."""

_PLAIN = (str, int, bool, type(None))


def to_params(hparams: Mapping[str, Any] | Namespace | None) -> dict[str, Any]:
    """``hparams`` (a dict, ``AttributeDict`` or ``argparse.Namespace``) as JSON params.

    >>> to_params(Namespace(lr=0.1, layers=(2, 3), path=__import__("pathlib").Path("/d")))
    {'lr': 0.1, 'layers': [2, 3], 'path': '/d'}
    """
    if hparams is None:
        return {}
    if isinstance(hparams, Namespace):
        hparams = vars(hparams)
    if not isinstance(hparams, Mapping):
        raise InvalidValueError(
            f"framework 'lightning': hyperparameters must be a dict or an argparse.Namespace, "
            f"got {type(hparams).__name__}"
        )
    return _mapping(hparams, set())


def _mapping(value: Mapping[Any, Any], seen: set[int]) -> dict[str, Any]:
    seen.add(id(value))
    try:
        return {(k if isinstance(k, str) else str(k)): _value(v, seen) for k, v in value.items()}
    finally:
        seen.discard(id(value))


def _value(value: Any, seen: set[int]) -> Any:
    if isinstance(value, _PLAIN) and not isinstance(value, enum.Enum):
        return value if type(value) in _PLAIN else _plain(value)
    if isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if id(value) in seen:
        return "<cycle>"
    if isinstance(value, Namespace):
        return _mapping(vars(value), seen)
    if isinstance(value, Mapping):
        return _mapping(value, seen)
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        seen.add(id(value))
        try:
            return [_value(v, seen) for v in items]
        finally:
            seen.discard(id(value))
    if isinstance(value, enum.Enum):
        return _value(value.value, seen)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, type) or callable(value):
        module = getattr(value, "__module__", None)
        name = getattr(value, "__qualname__", None) or type(value).__qualname__
        return f"{module}.{name}" if module else name
    return _array(value)


def _plain(value: Any) -> Any:
    """A subclass of str/int/bool (an IntEnum is caught before) as its base type."""
    for kind in (bool, int, str):
        if isinstance(value, kind):
            return kind(value)
    return value  # pragma: no cover - _PLAIN has no other types


def _array(value: Any) -> Any:
    """A numpy/torch scalar or small array as numbers; anything else as its ``str``."""
    size = getattr(value, "size", None)
    count = size() if callable(size) else size  # torch: .size() is a shape; numpy: .size
    if callable(size):
        numel = getattr(value, "numel", None)
        count = numel() if callable(numel) else None
    tolist = getattr(value, "tolist", None)
    if isinstance(count, int) and callable(tolist):
        if count <= MAX_ARRAY:
            try:
                return _value(tolist(), set())
            except Exception:  # a tolist that fails is no reason to lose the call
                return str(value)
        shape = tuple(getattr(value, "shape", ()))
        return f"<{type(value).__name__} shape {shape}>"
    return str(value)
