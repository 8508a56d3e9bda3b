"""Seed 003's ``AnalysisPostprocessor``, verbatim; its helpers count the output files and
(with ``create_plots``) write a small SVG of their sizes, with no library."""

# fmt: off
# mypy: disable-error-code="no-untyped-def, attr-defined"
from __future__ import annotations

from pathlib import Path
from typing import Any


class AnalysisPostprocessor:
    """Custom postprocessor for model analysis."""

    def process(self, model_run, **kwargs):
        """Process model outputs.

        Args:
            model_run: The ModelRun instance
            **kwargs: Processor-specific parameters

        Returns:
            dict: Processing results
        """
        try:
            output_dir = Path(model_run.output_dir) / model_run.run_id

            # Custom analysis logic
            metrics = self._calculate_metrics(output_dir)
            plots = self._generate_plots(output_dir)

            return {
                "success": True,
                "metrics": metrics,
                "plots": plots,
                "message": "Analysis completed successfully"
            }

        except Exception as e:
            return {
                "success": False,
                "error": str(e),
                "message": f"Analysis failed: {e}"
            }


def _calculate_metrics(self: AnalysisPostprocessor, output_dir: Path) -> dict[str, Any]:
    if not output_dir.is_dir():
        raise FileNotFoundError(f"no output folder {output_dir}")
    files = [p for p in output_dir.rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def _generate_plots(self: AnalysisPostprocessor, output_dir: Path) -> list[str]:
    files = sorted(p for p in output_dir.rglob("*") if p.is_file() and p.suffix != ".svg")
    bars = "".join(
        f'<rect x="0" y="{12 * i}" width="{min(p.stat().st_size, 400)}" height="10"/>'
        for i, p in enumerate(files)
    )
    target = output_dir / "analysis.svg"
    target.write_text(f'<svg xmlns="http://www.w3.org/2000/svg">{bars}</svg>\n')
    return [str(target)]


AnalysisPostprocessor._calculate_metrics = _calculate_metrics
AnalysisPostprocessor._generate_plots = _generate_plots
