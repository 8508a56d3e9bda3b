"""The ``local`` pipeline: generate, run (any run backend), postprocess (any processor).

Run backends and postprocessors are looked up by name through core, so this pipeline drives
``ferrotrack-postprocess``'s processors (or anyone's) without importing them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ferrotrack.core.plugins.execution import (
    PipelineBackendPlugin,
    get_execution_plugin,
    load_execution_plugin,
)
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.metadata import PluginMetadata
from ferrotrack.run.configs.base import config_error
from ferrotrack.run.execution import model_view

__all__ = ["LocalPipeline", "LocalPipelineConfig"]

logger = logging.getLogger("ferrotrack.run")


class LocalPipelineConfig(BaseModel):
    """The local pipeline's arguments."""

    model_config = ConfigDict(extra="forbid")

    pipeline_backend: Literal["local"] = "local"
    run_backend: str = Field(default="local", description="run backend name")
    processor: str | None = Field(default="noop", description="postprocessor name (None: skip)")
    run_kwargs: dict[str, Any] = Field(default_factory=dict, description="the run backend's config")
    process_kwargs: dict[str, Any] = Field(default_factory=dict, description="the processor's")
    cleanup_on_failure: bool = Field(
        default=False, description="remove the model run's folder when a stage fails"
    )


class LocalPipeline(PipelineBackendPlugin):
    """Generate, run, postprocess, in this process; stops at the first failing stage."""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(
            name="local",
            type=PluginType.PIPELINE,
            description="generate -> run -> postprocess, in this process",
            config_model=LocalPipelineConfig,
        )

    def execute(self, model_run: Any, **kwargs: Any) -> dict[str, Any]:
        """``success``, ``run_id``, ``stages_completed``, and each stage's result; an
        unknown run backend or processor name raises before the first stage."""
        try:
            config = LocalPipelineConfig.model_validate(kwargs)
        except ValidationError as err:
            raise config_error("pipeline local", err) from None
        # Both plugins are found before anything runs: a misspelt processor must not
        # surface after a model run of hours (InvalidArgumentError lists the installed).
        load_execution_plugin("run", config.run_backend)
        if config.processor is not None:
            load_execution_plugin("postprocess", config.processor)
        results: dict[str, Any] = {
            "success": False,
            "run_id": model_view(model_run).run_id,
            "stages_completed": [],
        }
        stages = (
            ("generate", self._generate),
            ("run", self._run),
            ("postprocess", self._postprocess),
        )
        for stage, step in stages:
            try:
                failure = step(model_run, config, results)
            except Exception as exc:
                logger.exception("pipeline local: stage %s of %s", stage, results["run_id"])
                failure = f"{type(exc).__name__}: {exc}"
            if failure is not None:
                results["error"] = failure
                results["message"] = f"stage {stage!r} failed: {failure}"
                results["failed_stage"] = stage
                if config.cleanup_on_failure:
                    results["cleaned_up"] = _cleanup(model_view(model_run).staging_dir)
                return results
            if stage != "postprocess" or config.processor is not None:
                results["stages_completed"].append(stage)
        results["success"] = True
        results["message"] = f"stages completed: {', '.join(results['stages_completed'])}"
        return results

    @staticmethod
    def _generate(model_run: Any, config: LocalPipelineConfig, results: dict[str, Any]) -> None:
        model_run.generate()

    @staticmethod
    def _run(model_run: Any, config: LocalPipelineConfig, results: dict[str, Any]) -> str | None:
        backend = get_execution_plugin("run", config.run_backend)
        ok = bool(backend.run(model_run, **config.run_kwargs))
        results["run_success"] = ok
        tracked = getattr(model_run, "tracked_run", None)
        if tracked is not None:
            results["tracked_run_id"] = tracked.run_id
        if ok:
            return None
        reason = tracked.tags.get("ferrotrack.reason") if tracked is not None else None
        return f"run backend {config.run_backend!r}: {reason or 'the model run failed'}"

    @staticmethod
    def _postprocess(
        model_run: Any, config: LocalPipelineConfig, results: dict[str, Any]
    ) -> str | None:
        if config.processor is None:
            return None
        processor = get_execution_plugin("postprocess", config.processor)
        outcome: Mapping[str, Any] = processor.process(model_run, **config.process_kwargs)
        results["postprocess"] = dict(outcome)
        if outcome.get("success", False):
            return None
        why = outcome.get("error") or outcome.get("message") or "no reason given"
        return f"postprocessor {config.processor!r}: {why}"


def _cleanup(folder: Path) -> bool:
    """Removes the model run's folder; whether anything was removed."""
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()
