"""The ``environment`` collector: Python, platform, host, CPU model, selected environment
variables (an allow-list; names that look like secrets never), and the installed packages
as the artifact ``environment/requirements.txt`` in ``pip freeze`` form, once, at start.

Packages are read with :mod:`importlib.metadata` (no pip subprocess: pip may not be
installed, and a subprocess would cost a second interpreter's start).
"""

from __future__ import annotations

import fnmatch
import json
import os
import platform
import re
import socket
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import (
    CollectorConfig,
    FileCollector,
    facts,
    metadata,
    redact_url,
    secret_name,
)
from ferrotrack.core.plugins import MetricData, PluginMetadata

__all__ = [
    "DEFAULT_ENV_VARS",
    "EnvironmentCollector",
    "EnvironmentConfig",
    "cpu_model",
    "requirements",
    "selected_env",
]

DEFAULT_ENV_VARS = (
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "PYTHONHASHSEED",
    "PYTORCH_CUDA_ALLOC_CONF",
    "CUBLAS_WORKSPACE_CONFIG",
    "NCCL_*",
    "WORLD_SIZE",
    "RANK",
    "LOCAL_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "SLURM_JOB_ID",
    "SLURM_ARRAY_TASK_ID",
    "SLURM_PROCID",
    "VIRTUAL_ENV",
    "CONDA_DEFAULT_ENV",
)
"""Variables recorded by default (shell-style patterns allowed)."""

_NAME = re.compile(r"[-_.]+")


class EnvironmentConfig(CollectorConfig):
    """Which variables to record and whether to list packages."""

    env_vars: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ENV_VARS),
        description="Allow-list of variable names or shell patterns (NCCL_*); secrets never.",
    )
    packages: bool = Field(default=True, description="Record environment/requirements.txt.")


def selected_env(environ: Mapping[str, str], allow: Iterable[str]) -> dict[str, str]:
    """The variables of ``environ`` that ``allow`` names (exactly or by shell pattern), minus
    any whose name looks like a secret (``SECRET_WORDS``: KEY, TOKEN, PASS…), with
    credentials removed from URL values.

    >>> selected_env({"OMP_NUM_THREADS": "4", "HF_TOKEN": "x"}, ["OMP_*", "HF_TOKEN"])
    {'OMP_NUM_THREADS': '4'}
    """
    patterns = list(allow)
    exact = {p for p in patterns if not any(c in p for c in "*?[")}
    globs = [p for p in patterns if p not in exact]
    out: dict[str, str] = {}
    for name in sorted(environ):
        if secret_name(name):
            continue
        if name in exact or any(fnmatch.fnmatchcase(name, g) for g in globs):
            out[name] = redact_url(environ[name]) if "://" in environ[name] else environ[name]
    return out


def _normalized(name: str) -> str:
    return _NAME.sub("-", name).lower()


def requirements() -> str:
    """The installed distributions in ``pip freeze`` form, sorted by name: ``name==version``,
    ``name @ url`` for a direct install, ``-e url`` for an editable one (PEP 610's
    ``direct_url.json``). The first of a name on ``sys.path`` wins, as for imports. A
    distribution whose metadata is broken is listed as well as it can be (or left out when
    it has no name or version): one bad folder in site-packages must not cost the run its
    environment facts."""
    import importlib.metadata as im

    lines: dict[str, str] = {}
    for dist in im.distributions():
        try:
            name, version = dist.metadata["Name"], dist.version
        except (OSError, ValueError):
            continue
        if not name or not version:
            continue
        key = _normalized(name)
        if key in lines:
            continue
        try:
            raw = dist.read_text("direct_url.json")
        except (OSError, ValueError):
            raw = None
        lines[key] = (raw and _direct_line(name, version, raw)) or f"{name}=={version}"
    return "".join(lines[k] + "\n" for k in sorted(lines))


def _direct_line(name: str, version: str, raw: str) -> str | None:
    """The freeze line PEP 610's ``direct_url.json`` asks for (credentials removed from
    its URL), or ``None`` when it asks for none or cannot be read."""
    try:
        direct = json.loads(raw)
    except ValueError:
        return None
    url = direct.get("url") if isinstance(direct, dict) else None
    if not isinstance(url, str) or not url:
        return None
    url = redact_url(url)
    dir_info, vcs = direct.get("dir_info"), direct.get("vcs_info")
    if isinstance(dir_info, dict) and dir_info.get("editable"):
        return f"# editable install of {name}=={version}\n-e {url}"
    if isinstance(vcs, dict):
        return f"{name} @ {vcs.get('vcs', 'git')}+{url}@{vcs.get('commit_id', '')}"
    if not url.startswith("file:"):
        return f"{name} @ {url}"
    return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` says)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in {"model name", "Hardware", "cpu model"}:
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class EnvironmentCollector(FileCollector):
    """Records where the run's Python runs, once, at start (see the module docstring)."""

    interval: float | None = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``environment``."""
        return metadata(
            "environment",
            "Python, platform, host, CPU model, allow-listed variables, installed packages.",
            EnvironmentConfig,
        )

    @property
    def sampling_interval(self) -> float | None:
        """Always ``None``: the facts are taken once."""
        return None

    def facts(self) -> dict[str, Any]:
        """The params recorded under ``env.``."""
        config: EnvironmentConfig = self.config or EnvironmentConfig()
        return {
            "python": {
                "version": platform.python_version(),
                "implementation": platform.python_implementation(),
                "executable": sys.executable,
            },
            "platform": platform.platform(),
            "system": platform.system(),
            "machine": platform.machine(),
            "hostname": socket.gethostname(),
            "cpu_model": cpu_model(),
            "vars": selected_env(os.environ, config.env_vars),
        }

    def collect(self) -> list[MetricData]:
        """Params ``env.*`` and the artifact ``environment/requirements.txt``."""
        config: EnvironmentConfig = self.config or EnvironmentConfig()
        out = facts("env", self.facts(), "environment")
        if config.packages:
            listing = self.artifact("environment/requirements.txt", requirements().encode("utf-8"))
            if listing is not None:
                out.append(listing)
        return out
