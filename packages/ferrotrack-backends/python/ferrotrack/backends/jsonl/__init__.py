"""The ``jsonl`` backend: one JSON object a line, appended and flushed per batch, for
``tail -f``, ``jq`` and log shippers (Vector, Fluent Bit, Filebeat, Promtail).

Every line is a typed record (``{"type": "point", ...}``, ``"open"``, ``"status"``,
``"params"``, ``"tags"``, ``"artifact"``, ``"event"``); ``docs/backends/jsonl.md`` has the
fields of each.
"""

from __future__ import annotations

from ferrotrack.backends.jsonl.backend import JsonlBackend
from ferrotrack.backends.jsonl.config import JsonlConfig
from ferrotrack.backends.jsonl.lines import point_lines, read_points

__all__ = ["JsonlBackend", "JsonlConfig", "point_lines", "read_points"]
