"""Seed 003, "No-op Processor": the guide's block after a local run of the stand-in model.

``./custom_output`` is made first, so the validation finds it. Needs ferrotrack-postprocess.
Run: ``python examples/run/postprocess_noop.py``.
"""

# fmt: off
from pathlib import Path

from seed_model import make_model

model = make_model("noop")
model.run(backend="local")
Path("custom_output").mkdir(exist_ok=True)

# Basic validation
results = model.postprocess(processor="noop")

# With custom validation
results = model.postprocess(
    processor="noop",
    validate_outputs=True,
    output_dir="./custom_output"
)
# fmt: on

print(f"noop: success={results['success']}: {results['message']}")
