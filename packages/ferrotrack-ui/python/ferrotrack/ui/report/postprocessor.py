"""``report``: the HTML report of a model run's tracked run (or of the runs named), as a
postprocessor of the run pipelines (seed 003's ``process(model_run, **kwargs)``).

It writes ``<output_dir>/<run_id>/postprocess/report/report.html`` unless ``path`` says
where. As the seed asks, ``process`` does not raise: bad arguments and failures come back
as ``success: False`` with a message.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferrotrack.core.errors import FerrotrackError, MissingDependencyError
from ferrotrack.core.plugins.execution import ModelRun, PostprocessorPlugin
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.metadata import PluginMetadata
from ferrotrack.ui.report.build import DEFAULT_DETAILED, DEFAULT_POINTS

__all__ = ["ReportConfig", "ReportPostprocessor"]

logger = logging.getLogger("ferrotrack.ui.report")

NAME = "report"


class ReportConfig(BaseModel):
    """Arguments of ``report``: which runs (default: the model run's tracked run), where
    the file goes, and how much it holds."""

    model_config = ConfigDict(extra="forbid")

    runs: list[str] | None = None
    experiment: str | None = None
    root: Path | None = None
    path: Path | None = None
    title: str | None = None
    points: int = Field(DEFAULT_POINTS, ge=4)
    detailed: int = Field(DEFAULT_DETAILED, ge=0)


class ReportPostprocessor(PostprocessorPlugin):
    """The self-contained HTML report of a model run's runs."""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Name, version, description and config model, for listings."""
        from ferrotrack.ui import __version__

        return PluginMetadata(
            name=NAME,
            version=__version__,
            type=PluginType.POSTPROCESS,
            description="One self-contained HTML file: runs table, charts, params diff.",
            author="ferrotrack",
            config_model=ReportConfig,
        )

    def process(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """``success``, ``processor``, ``run_id``, ``message``; on success ``path`` (the
        HTML file) and ``runs`` (the ids it holds); on failure ``error``."""
        run_id = getattr(model_run, "run_id", None)
        if not isinstance(run_id, str) or not run_id:
            return _failed(None, "invalid arguments", "report: model_run has no str run_id")
        defaults = self.config.model_dump(exclude_unset=True) if self.config is not None else {}
        try:
            config = ReportConfig.model_validate({**defaults, **kwargs})
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<arguments>'}: {e['msg']}"
                for e in err.errors(include_input=False, include_url=False)
            )
            return _failed(run_id, "invalid arguments", f"report: invalid arguments: {problems}")
        try:
            return self._write(model_run, config)
        except MissingDependencyError:
            raise
        except Exception as exc:  # the seed's rule: a failure is a result, not a raise
            expected = isinstance(exc, FerrotrackError | OSError)
            (logger.info if expected else logger.exception)("report failed for %r: %s", run_id, exc)
            return _failed(
                run_id,
                f"{type(exc).__name__}: {exc}",
                f"report failed for model run {run_id!r}: {exc}",
            )

    def _write(self, model_run: ModelRun, config: ReportConfig) -> dict[str, Any]:
        from ferrotrack.core.errors import RunNotFoundError
        from ferrotrack.ui.report.build import collect_report, write_report

        tracked: Any = model_run.tracked_run
        root = config.root
        runs = list(config.runs or [])
        if root is None and tracked is not None:
            root = Path(tracked.root)
        if not runs and config.experiment is None:
            if tracked is None:
                raise RunNotFoundError(
                    f"model run {model_run.run_id!r} has no tracked run: pass runs=[...] or "
                    "experiment=... to choose ferrotrack runs"
                )
            runs = [tracked.run_id]
        data = collect_report(
            root,
            experiment=config.experiment,
            runs=runs,
            title=config.title or f"model run {model_run.run_id}",
            points=config.points,
            detailed=config.detailed,
        )
        folder = Path(os.fspath(model_run.output_dir)) / model_run.run_id
        path = write_report(data, config.path or folder / "postprocess" / NAME / "report.html")
        ids = [row["run_id"] for row in data["runs"]]
        return {
            "success": True,
            "processor": NAME,
            "run_id": model_run.run_id,
            "message": f"wrote the report of {len(ids)} run(s) to {path}",
            "path": str(path),
            "runs": ids,
        }


def _failed(run_id: str | None, error: str, message: str) -> dict[str, Any]:
    return {"success": False, "processor": NAME, "run_id": run_id, "error": error,
            "message": message}  # fmt: skip
