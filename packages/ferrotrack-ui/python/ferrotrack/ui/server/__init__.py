"""The ASGI app of ``ferrotrack ui``: the JSON API under ``/api`` and the page's files."""

from __future__ import annotations

from ferrotrack.ui.server.app import create_app

__all__ = ["create_app"]
