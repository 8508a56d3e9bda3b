"""Builds the images the guide's Docker blocks name, which no registry can give here:
``rompy/schism:latest`` and ``rompy/model:latest`` from ``docker/schism.Dockerfile``, each
FROM scratch with Debian's static busybox (``busybox-static``; scripts/system/docker.sh).
A Docker engine must be running (the tests start one: packages/ferrotrack-run/tests/
docker_engine.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
STANDINS = ("rompy/schism:latest", "rompy/model:latest")


def busybox() -> Path:
    """Debian's static busybox, copied into ``docker/`` (the build context)."""
    source = Path("/bin/busybox")
    if not source.is_file():
        raise SystemExit("no /bin/busybox: install Debian's busybox-static")
    target = HERE / "docker" / "busybox"
    if not target.exists():
        shutil.copy2(source, target)
    return target


def ensure_images() -> None:
    """Builds the stand-in images that are not there yet."""
    busybox()
    for tag in STANDINS:
        inspect = ["docker", "image", "inspect", tag]
        known = subprocess.run(inspect, capture_output=True, check=False)
        if known.returncode != 0:
            subprocess.run(
                ["docker", "build", "-q", "-t", tag, "-f", "docker/schism.Dockerfile", "docker"],
                cwd=HERE,
                check=True,
                env={**os.environ, "DOCKER_BUILDKIT": "0"},
                capture_output=True,
            )
