"""How ferrotrack's names, params and tags map onto ClearML's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ferrotrack.core.params import flatten

__all__ = ["SECTION", "flat_params", "scalar_name", "scalar_names", "tags_after"]

SECTION = "General"
"""The hyperparameter section params go to (``Task.connect``'s default)."""


def scalar_name(name: str, rank: int = 0) -> tuple[str, str]:
    """ClearML's (title, series) of a metric: ``train/loss`` is (``train``, ``loss``), split
    at the first ``/``; a name without one is its own title and series (ClearML's habit).
    Rank ``r > 0`` is told in the series: ``loss [rank r]``."""
    title, sep, series = name.partition("/")
    if not sep or not title or not series:
        title = series = name
    if rank > 0:
        series = f"{series} [rank {rank}]"
    return title, series


def scalar_names(names: Iterable[str], rank: int = 0) -> list[tuple[str, str]]:
    """:func:`scalar_name` of each distinct name of a batch."""
    return [scalar_name(n, rank) for n in names]


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"General/lr": 0.1, "General/model/depth": 3}`` from nested params; a value that
    is not a number, text, bool or None is given as its ``str`` (ClearML keeps text)."""
    out: dict[str, Any] = {}
    for path, value in flatten(params, f"{prefix}/" if prefix else "", sep="/").items():
        plain = value is None or isinstance(value, (str, int, float, bool))
        out[f"{SECTION}/{path}"] = value if plain else str(value)
    return out


def tags_after(current: Iterable[str], delta: Mapping[str, str | None]) -> list[str]:
    """The tag list once ``delta`` applies (``None`` deletes a key): the tags of a changed
    key (``key`` or ``key:…``) are replaced by ``key:value`` (``key`` when empty)."""
    kept = [t for t in current if t.split(":", 1)[0] not in delta]
    added = [f"{k}:{v}" if v else k for k, v in delta.items() if v is not None]
    return kept + [t for t in added if t not in kept]
