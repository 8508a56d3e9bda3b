"""Parameters: nested as logged, checked to be JSON, flattened with dots for analysis.

One rule joins the nested and the dotted spelling: **a dotted key is a path**.
``{"optim.lr": 0.2}`` sets ``lr`` inside ``optim``, exactly as ``{"optim": {"lr": 0.2}}``
does, so ``params.json`` never holds both spellings of one parameter. Keys of one call are
applied in order; a later value replaces an earlier non-object one on the same path.

Every process of a run merges its params into ``params.json`` under an exclusive ``flock``
on ``<run>/.locks/params`` (read, merge, atomic replace), so concurrent writers never lose
each other's keys.
"""

from __future__ import annotations

import fcntl
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import InvalidValueError
from ferrotrack.core.store.jsonfile import read_json, write_json_atomic

__all__ = ["check_json", "expand", "flatten", "merge", "normalize", "update_file"]

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


def flatten(params: Mapping[str, Any], prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}``; lists stay values. ``sep``
    joins the levels (a tracker with other conventions: ClearML's ``/``)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flatten(v, f"{key}{sep}", sep))
        else:
            out[key] = v
    return out


def expand(params: Mapping[str, Any]) -> dict[str, Any]:
    """``{"optim.lr": 0.2}`` -> ``{"optim": {"lr": 0.2}}``, at every level, in key order.

    The inverse of :func:`flatten` for objects without empty nested objects.
    """
    out: dict[str, Any] = {}
    for key, value in params.items():
        *path, last = key.split(".")
        node = out
        for part in path:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        v = expand(value) if isinstance(value, Mapping) else value
        if isinstance(v, dict) and isinstance(node.get(last), dict):
            node[last] = merge(node[last], v)
        else:
            node[last] = v
    return out


def normalize(params: Any, where: str = "log_params") -> dict[str, Any]:
    """``params`` checked (JSON values, str keys) and with dotted keys expanded to paths."""
    if not isinstance(params, Mapping):
        raise InvalidValueError(f"{where}: expected a mapping, got {type(params).__name__}")
    checked: dict[str, Any] = {}
    for k, v in params.items():
        if not isinstance(k, str):
            raise InvalidValueError(
                f"{where}: param keys must be str, got {type(k).__name__} {k!r}"
            )
        checked[k] = check_json(v, k)
    return expand(checked)


def update_file(run_dir: Path, delta: Mapping[str, Any], *, sync: bool = False) -> dict[str, Any]:
    """Merges ``delta`` into ``<run_dir>/params.json`` under the run's params lock.

    Returns the whole params after the merge (every process's keys).
    """
    locks = run_dir / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    fd = os.open(locks / "params", os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = run_dir / "params.json"
        merged = merge(read_json(path), delta)
        write_json_atomic(path, merged, sync=sync)
        return merged
    finally:
        os.close(fd)  # closing drops the lock
