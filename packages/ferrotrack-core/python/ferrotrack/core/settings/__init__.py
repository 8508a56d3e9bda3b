"""Settings: code arguments over ``FERROTRACK_*`` environment variables over a settings file.

Two layers share one lookup (:mod:`ferrotrack.core.settings.lookup`):

- :func:`tracking_defaults` and :func:`lookup_root` (no pydantic): what every ``start_run``,
  reader and CLI command resolves, cheap enough to run every time;
- :class:`FerrotrackSettings` (pydantic, loaded on first use): plugin selection and configs,
  routing, delivery options, and sections that packages add (:meth:`FerrotrackSettings.section`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferrotrack.core._lazy import lazy_getattr
from ferrotrack.core.settings.lookup import (
    DEFAULT_ROOT,
    DURABILITIES,
    PLUGIN_LISTS,
    Durability,
    SettingsFile,
    TrackingDefaults,
    file_settings,
    find_settings_file,
    lookup_root,
    root_and_source,
    tracking_defaults,
)

if TYPE_CHECKING:
    from ferrotrack.core.settings.model import (
        SECRET_KEY,
        FerrotrackSettings,
        OrchestratorSettings,
        RouteRule,
    )

_LAZY = {
    "FerrotrackSettings": "ferrotrack.core.settings.model",
    "OrchestratorSettings": "ferrotrack.core.settings.model",
    "RouteRule": "ferrotrack.core.settings.model",
    "SECRET_KEY": "ferrotrack.core.settings.model",
}

__all__ = [
    "DEFAULT_ROOT",
    "DURABILITIES",
    "PLUGIN_LISTS",
    "SECRET_KEY",
    "Durability",
    "FerrotrackSettings",
    "OrchestratorSettings",
    "RouteRule",
    "SettingsFile",
    "TrackingDefaults",
    "file_settings",
    "find_settings_file",
    "lookup_root",
    "root_and_source",
    "tracking_defaults",
]


__getattr__ = lazy_getattr(globals(), _LAZY)
