"""Seed 003's custom run backend, postprocessor and pipeline backend, registered by
``mypackage`` (tests/plugins/mypackage, the guide's TOML blocks) and used by name only.

Run: ``python examples/run/custom_plugins.py`` (with mypackage installed).
"""

from seed_model import make_model

model = make_model("custom")
print(f"custom backend: {model.run(backend='custom')}")
analysis = model.postprocess(processor="analysis")
print(f"analysis: {analysis['success']} {analysis['metrics']}")
results = model.pipeline(pipeline_backend="cloud")
print(f"cloud pipeline: {results['success']}, stages {results['stages_completed']}")
