"""The model run seed 003's blocks use as ``model``: a small shell "model" whose input file
is rendered from the config (``model_templates/``), run from the model run's folder.

The examples run from this folder (they change into it), so the guide's relative paths
(``./data``, ``./docker/Dockerfile``, ``./my_model_executable``) resolve here.
"""

from __future__ import annotations

import os
from pathlib import Path

from ferrotrack.run import ModelRun

HERE = Path(__file__).resolve().parent


def make_model(run_id: str = "seed003") -> ModelRun:
    """A model run of the stand-in model, its outputs under ``simulations/<run_id>``."""
    os.chdir(HERE)
    return ModelRun(
        run_id=run_id,
        experiment="seed003",
        output_dir=HERE / "simulations",
        config={"steps": 20, "dt": 0.5},
        template_dir=HERE / "model_templates",
        command="./my_model_executable",
    )
