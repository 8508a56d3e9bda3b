"""``ferrotrack report``: the dashboard's pages, data, scripts and plotly.js in one HTML
file that opens from disk with no server and no network; also the ``report``
postprocessor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr

if TYPE_CHECKING:
    from ferrotrack.ui.report.build import collect_report, write_report
    from ferrotrack.ui.report.bundle import bundle_modules, embed_json, render_report

__all__ = ["bundle_modules", "collect_report", "embed_json", "render_report", "write_report"]

_LAZY = {
    "collect_report": "ferrotrack.ui.report.build",
    "write_report": "ferrotrack.ui.report.build",
    "bundle_modules": "ferrotrack.ui.report.bundle",
    "embed_json": "ferrotrack.ui.report.bundle",
    "render_report": "ferrotrack.ui.report.bundle",
}


__getattr__ = lazy_getattr(globals(), _LAZY)
