"""ferrotrack.ui: ``ferrotrack ui``, a local web dashboard over the store, and the data layer
it and ``ferrotrack report`` share (plain functions returning JSON-ready dicts).

>>> from ferrotrack.ui.data import runs_page, RunsQuery
>>> runs_page("ferrotrack-runs", RunsQuery(limit=10))["total"]  # doctest: +SKIP
3

Each public name is imported on first use, so importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.ui.errors import NotFound
    from ferrotrack.ui.server.app import create_app

_LAZY = {"NotFound": "ferrotrack.ui.errors", "create_app": "ferrotrack.ui.server.app"}

__all__ = ["NotFound", "create_app"]

__getattr__ = lazy_getattr(globals(), _LAZY, distribution="ferrotrack-ui")


def __dir__() -> list[str]:
    return __all__
