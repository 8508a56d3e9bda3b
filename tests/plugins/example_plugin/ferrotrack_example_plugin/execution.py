"""A run backend, a postprocessor and a pipeline backend, the shapes of seed 003.

The pipeline backend finds the others by name through core only, as ``ferrotrack-run``'s
pipelines find ``ferrotrack-postprocess``'s postprocessors: no import between them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ferrotrack.core.plugins import PluginMetadata, PluginType
from ferrotrack.core.plugins.execution import (
    ModelRun,
    PostprocessorPlugin,
    get_execution_plugin,
)


class EchoRunBackend:
    """A plain class, as seed 003 writes them: generates, then writes ``output.json``."""

    def run(self, model_run: ModelRun, **kwargs: Any) -> bool:
        """Writes ``kwargs`` as the model's output; logs ``run/ok`` to the tracked run."""
        model_run.generate()
        folder = Path(model_run.output_dir) / model_run.run_id
        (folder / "output.json").write_text(json.dumps({"value": kwargs.get("value", 1)}))
        tracked = model_run.tracked_run
        if tracked is not None:
            tracked.log("run/ok", 1.0, step=0)
        return not kwargs.get("fail", False)


class CountPostprocessor(PostprocessorPlugin):
    """A plugin with metadata: counts the files of the model run's folder."""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``example_count``."""
        return PluginMetadata(name="example_count", version="0.3.1", type=PluginType.POSTPROCESS)

    def process(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """``{"success": True, "files": n, "message": ...}``."""
        folder = Path(model_run.output_dir) / model_run.run_id
        files = sorted(p.name for p in folder.iterdir())
        return {"success": True, "files": files, "message": f"{len(files)} files"}


class LocalPipeline:
    """generate, run and postprocess, each stage found by name through core."""

    def execute(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """Runs ``run_backend`` then ``processor`` (names), as seed 003's local pipeline."""
        results: dict[str, Any] = {
            "success": False,
            "run_id": model_run.run_id,
            "stages_completed": [],
        }
        backend = get_execution_plugin("run", kwargs.get("run_backend", "example_echo"))
        if not backend.run(model_run, **kwargs.get("run_kwargs", {})):
            results["error"] = "run failed"
            return results
        results["stages_completed"].append("run")
        processor = get_execution_plugin("postprocess", kwargs.get("processor", "example_count"))
        results["outputs"] = processor.process(model_run, **kwargs.get("process_kwargs", {}))
        results["stages_completed"].append("postprocess")
        results["success"] = True
        return results
