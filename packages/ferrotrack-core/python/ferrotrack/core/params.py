"""Parameters: nested as logged, checked to be JSON, flattened with dots for analysis."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ferrotrack.core.errors import InvalidValueError

_SCALARS = (str, int, float, bool, type(None))


def check_json(value: Any, key: str) -> Any:
    """Returns ``value`` as plain JSON data; raises naming ``key`` if it is not representable.

    Tuples become lists; numpy scalars (anything with ``.item()`` giving a scalar) become
    Python scalars; NaN and infinities are refused because JSON has no spelling for them.
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidValueError(f"param {key!r}: {value} cannot be stored in JSON")
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidValueError(
                    f"param {key!r}: keys must be str, got {type(k).__name__} {k!r}"
                )
            out[k] = check_json(v, f"{key}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [check_json(v, f"{key}[{i}]") for i, v in enumerate(value)]
    item = getattr(value, "item", None)
    if callable(item):
        try:
            scalar = item()
        except (TypeError, ValueError):
            scalar = None
        if isinstance(scalar, _SCALARS):
            return check_json(scalar, key)
    raise InvalidValueError(
        f"param {key!r}: {type(value).__name__} is not JSON-representable "
        "(expected str, int, float, bool, None, list or dict)"
    )


def merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merges ``update`` into a copy of ``base`` (nested dicts merge, the rest replaces)."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``; lists stay values."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v
    return out
