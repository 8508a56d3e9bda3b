"""Errors raised inside the processors; ``process()`` returns them as ``success: False``."""

from __future__ import annotations

from collections.abc import Iterable

from ferrotrack.core.errors import FerrotrackError

__all__ = ["MetricNotFoundError", "check_names"]


class MetricNotFoundError(FerrotrackError, LookupError):
    """A metric asked for by name (``names=[...]``) was logged by none of the chosen runs."""


def check_names(wanted: list[str] | None, found: Iterable[str]) -> None:
    """Raises :class:`MetricNotFoundError` naming the metrics of ``wanted`` not ``found``."""
    if wanted is None:
        return
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise MetricNotFoundError(
            f"no point of metric(s) {', '.join(repr(m) for m in missing)} in the chosen run(s)"
        )
