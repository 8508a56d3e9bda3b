"""ferrotrack's key/value tags as the plain tag names Aim has."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["tag_name", "tags_after"]


def tag_name(key: str, value: str) -> str:
    """``key:value``, or ``key`` alone when the value is empty."""
    return f"{key}:{value}" if value else key


def tags_after(
    current: Iterable[str], delta: Mapping[str, str | None]
) -> tuple[set[str], set[str]]:
    """The tag names to add and to remove so that ``current`` reflects ``delta`` (``None``
    deletes a key): every name of a changed key (``key`` or ``key:…``) goes first."""
    now = set(current)
    drop = {t for t in now if t.split(":", 1)[0] in delta}
    add = {tag_name(k, v) for k, v in delta.items() if v is not None}
    return add - now, drop - add
