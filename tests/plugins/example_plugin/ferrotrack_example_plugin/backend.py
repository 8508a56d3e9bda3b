"""A backend that appends one JSON line per point and per run fact: the smallest useful
backend, and one that uses every joint of the backend contract (identity, state, events)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from ferrotrack.core.plugins import BackendPlugin, MetricData, PluginMetadata, PluginType
from ferrotrack.core.records import RunEvent, RunInfo


class JsonlConfig(BaseModel):
    """Where to write, and a token to show secrets stay secret."""

    path: Path
    token: SecretStr | None = None


class JsonlBackend(BackendPlugin):
    """Writes points, params and status as JSON lines."""

    config: JsonlConfig

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``example_jsonl``."""
        return PluginMetadata(
            name="example_jsonl",
            version="0.3.1",
            type=PluginType.BACKEND,
            description="Append points as JSON lines.",
            author="ferrotrack tests",
            capabilities=frozenset({"metrics", "params"}),
            config_model=JsonlConfig,
        )

    def _write(self, record: dict[str, Any]) -> None:
        with self.config.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """One line naming the run; ``state["opens"]`` counts the opens (kept by ferrotrack)."""
        state["opens"] = int(state.get("opens", 0)) + 1
        self._write({"open": info.run_id, "opens": state["opens"], "run_params": info.params})

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """One line with the tags set (``None``: deleted)."""
        self._write({"tags": dict(tags)})

    def log_event(self, event: RunEvent) -> None:
        """One line per run event."""
        self._write({"event": event.kind, "event_name": event.name, "rows": event.rows})

    def handle_metric(self, metric: MetricData) -> None:
        """One line per point."""
        self._write({"name": metric.name, "step": metric.step, "value": metric.value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """One line with the params."""
        self._write({"params": dict(params)})

    def set_status(self, status: str) -> None:
        """One line with the status."""
        self._write({"status": status})
