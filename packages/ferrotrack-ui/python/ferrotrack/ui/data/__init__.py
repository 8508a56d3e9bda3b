"""The data behind the UI and the report: plain functions over the store, returning
JSON-ready dicts (``docs/ui-api.md`` describes each answer)."""

from __future__ import annotations

from ferrotrack.ui.data.detail import compare, parallel, run_detail
from ferrotrack.ui.data.runs import RunsQuery, list_experiments, runs_page
from ferrotrack.ui.data.series import series

__all__ = ["RunsQuery", "compare", "list_experiments", "parallel", "run_detail", "runs_page",
           "series"]  # fmt: skip
