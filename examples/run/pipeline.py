"""Seed 003, "Local Pipeline": the guide's two calls. The second runs the model in Docker and
hands it to ``analysis``, the postprocessor of the test-only distribution ``mypackage``
(tests/plugins/mypackage), found by entry point. Needs a Docker engine and mypackage.
Run: ``python examples/run/pipeline.py``.
"""

# fmt: off
from docker_images import ensure_images
from seed_model import make_model

model = make_model("pipeline")
ensure_images()

# Basic pipeline
results = model.pipeline(pipeline_backend="local")

# With custom backends
results = model.pipeline(
    pipeline_backend="local",
    run_backend="docker",
    processor="analysis",
    run_kwargs={"image": "rompy/model:latest", "cpu": 4},
    process_kwargs={"create_plots": True},
    cleanup_on_failure=True
)
# fmt: on

print(f"custom pipeline: {results['success']}, stages {results['stages_completed']}")
print(f"analysis: {results['postprocess']['metrics']}")
