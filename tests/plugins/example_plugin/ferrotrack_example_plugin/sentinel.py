"""Which plugin modules of this distribution were imported: discovery must import only the
group asked for, and tests read this list to prove it."""

from __future__ import annotations

imported: list[str] = []
