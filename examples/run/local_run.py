"""Seed 003, "Local Backend": the guide's block, with ``model`` a stand-in model run.

Run: ``python examples/run/local_run.py``.
"""

# fmt: off
from seed_model import make_model

model = make_model("local-run")

# Basic local execution
success = model.run(backend="local")

# With custom command
success = model.run(
    backend="local",
    command="./my_model_executable",
    env_vars={"OMP_NUM_THREADS": "4"},
    timeout=3600
)
# fmt: on

print(f"local run succeeded: {success}")
tracked = model.tracked_run
assert tracked is not None
print((tracked.run_dir / "logs" / "stdout.txt").read_text().strip())
