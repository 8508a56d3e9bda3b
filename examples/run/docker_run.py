"""Seed 003, "Docker Backend": the guide's two calls, with ``model`` a stand-in model run.

The image the guide pulls is built here first (``docker_images.py``: no registry is
reachable); the second call builds ``./docker/Dockerfile`` with its build arg. Needs a
running Docker engine. Run: ``python examples/run/docker_run.py``.
"""

# fmt: off
from pathlib import Path

from docker_images import busybox, ensure_images
from seed_model import make_model

model = make_model("docker-run")
ensure_images()
busybox()
Path("data").mkdir(exist_ok=True)
(Path("data") / "forcing.nc").write_text("stand-in forcing\n")

# Using pre-built image
success = model.run(
    backend="docker",
    image="rompy/schism:latest",
    executable="/usr/local/bin/schism",
    cpu=4,
    volumes=["./data:/data:ro"],
    env_vars={"MODEL_CONFIG": "production"}
)
# Building from Dockerfile
success = model.run(
    backend="docker",
    dockerfile="./docker/Dockerfile",
    build_args={"MODEL_VERSION": "1.0.0"},
    executable="/usr/local/bin/model",
    mpiexec="mpiexec",
    cpu=8
)
# fmt: on

print(f"built from Dockerfile: {success}")
tracked = model.tracked_run
assert tracked is not None
print((tracked.run_dir / "logs" / "stdout.txt").read_text().strip())
