"""Seed 003's ``CloudPipelineBackend``, verbatim. No cloud is reachable here, so its
"cloud" is this machine: a job is the model run's command under the ``local`` run backend
(found by entry point), its id the ferrotrack run's id, its download the run's folder."""

# fmt: off
# mypy: disable-error-code="no-untyped-def, attr-defined"
from __future__ import annotations

from pathlib import Path
from typing import Any

from ferrotrack.core.plugins.execution import get_execution_plugin


class CloudPipelineBackend:
    """Pipeline backend for cloud execution."""

    def execute(self, model_run, **kwargs):
        """Execute the complete pipeline.

        Args:
            model_run: The ModelRun instance
            **kwargs: Pipeline-specific parameters

        Returns:
            dict: Pipeline execution results
        """
        results = {
            "success": False,
            "run_id": model_run.run_id,
            "stages_completed": []
        }

        try:
            # Stage 1: Generate inputs
            model_run.generate()
            results["stages_completed"].append("generate")

            # Stage 2: Submit to cloud
            job_id = self._submit_cloud_job(model_run, **kwargs)
            results["job_id"] = job_id
            results["stages_completed"].append("submit")

            # Stage 3: Wait for completion
            self._wait_for_completion(job_id)
            results["stages_completed"].append("execute")

            # Stage 4: Download and process results
            outputs = self._download_results(job_id)
            processed = self._process_outputs(outputs, **kwargs)
            results["outputs"] = processed
            results["stages_completed"].append("postprocess")

            results["success"] = True
            return results

        except Exception as e:
            results["error"] = str(e)
            return results


def _submit_cloud_job(self: Any, model_run: Any, **kwargs: Any) -> str:
    if not get_execution_plugin("run", "local").run(model_run, **kwargs.get("run_kwargs", {})):
        raise RuntimeError(f"job of {model_run.run_id} failed")
    self._outputs = {model_run.tracked_run.run_id: Path(model_run.output_dir) / model_run.run_id}
    return str(model_run.tracked_run.run_id)


def _wait_for_completion(self: Any, job_id: str) -> None:
    if job_id not in self._outputs:
        raise RuntimeError(f"unknown job {job_id}")


def _download_results(self: Any, job_id: str) -> list[str]:
    return sorted(str(p) for p in self._outputs[job_id].rglob("*") if p.is_file())


def _process_outputs(self: Any, outputs: list[str], **kwargs: Any) -> dict[str, Any]:
    return {"files": len(outputs), "names": [Path(p).name for p in outputs]}


CloudPipelineBackend._submit_cloud_job = _submit_cloud_job
CloudPipelineBackend._wait_for_completion = _wait_for_completion
CloudPipelineBackend._download_results = _download_results
CloudPipelineBackend._process_outputs = _process_outputs
