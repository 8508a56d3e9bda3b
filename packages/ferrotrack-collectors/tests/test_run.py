"""Every collector through ``ft.start_run``: what lands in the store (points, params,
tags, artifacts), what ``ferrotrack plugins list`` shows, and the error when psutil is
missing."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import ferrotrack.core as ft
from ferrotrack.collectors.git import GitCollector
from ferrotrack.collectors.gpu import GpuCollector
from ferrotrack.collectors.system import SystemCollector
from ferrotrack.core.errors import PluginWarning

ALL = ["system", "git", "environment", "scheduler", "container", "gpu"]


def git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@e.org"}  # fmt: skip
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_every_collector_in_one_run(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = Path.cwd()  # the test's tmp folder: a repository with a dirty file
    git(cwd, "init", "-q", "-b", "main")
    (cwd / "train.py").write_text("lr = 1\n")
    git(cwd, "add", "train.py")
    git(cwd, "commit", "-q", "-m", "one")
    git(cwd, "remote", "add", "origin", "https://u:tok@example.org/r.git")
    (cwd / "train.py").write_text("lr = 2\n")
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    system = SystemCollector()  # a configured instance; the others by name
    system.initialize({"interval": 0.2})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ft.start_run("all", experiment="collectors", collectors=[system, *ALL[1:]]) as run:
            run.log("loss", 1.0, step=0)
            deadline = time.monotonic() + 30
            while system.samples < 3:  # the thread's own samples, not only the first
                assert time.monotonic() < deadline
                time.sleep(0.05)
            run_dir = run.run_dir
    gpu_warnings = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    if GpuCollector.unavailable_reason() is not None:
        assert len(gpu_warnings) == 1
        assert "'gpu'" in gpu_warnings[0]
    points = ft.metrics(experiment="collectors").collect()
    names = set(points["name"].to_list())
    assert {"loss", "sys/cpu/percent", "sys/mem/used_bytes", "sys/proc/rss_bytes"} <= names
    assert points.filter(points["name"] == "sys/proc/rss_bytes").height >= 3
    params = json.loads((run_dir / "params.json").read_text())
    assert params["git"]["branch"] == "main"
    assert params["git"]["dirty"] is True
    assert params["git"]["remote_url"] == "https://example.org/r.git"
    assert params["env"]["vars"]["OMP_NUM_THREADS"] == "2"
    assert params["scheduler"]["slurm"]["job_id"] == 77
    assert params["sys"]["cpu_count"] == os.cpu_count()
    assert "cgroup_version" in params["container"]
    tags = json.loads((run_dir / "run.json").read_text())["tags"]
    assert tags["scheduler"] == "slurm"
    assert "+lr = 2" in (run_dir / "artifacts/git/diff.patch").read_text()
    assert "psutil==" in (run_dir / "artifacts/environment/requirements.txt").read_text()
    info = json.loads((run_dir / "metrics.json").read_text())
    assert info["sys/mem/used_bytes"]["metadata"]["unit"] == "bytes"
    assert info["sys/mem/used_bytes"]["source"] == "system"
    runs = ft.runs(experiment="collectors")
    assert runs["params.git.branch"].to_list() == ["main"]


def test_plugins_list_shows_the_collectors() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ferrotrack.core.cli", "plugins", "list", "--type", "collector",
         "--json"], capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    for name in ("system", "git", "environment", "scheduler", "container"):
        assert rows[name]["available"] is True, rows[name]
        assert rows[name]["package"] == "ferrotrack-collectors"
    reason = GpuCollector.unavailable_reason()
    assert rows["gpu"]["available"] is (reason is None)
    assert rows["gpu"]["reason"] == reason


def test_without_psutil_the_error_names_it() -> None:
    code = (
        "import sys; sys.modules['psutil'] = None\n"
        "import ferrotrack.core as ft\n"
        "from ferrotrack.core.errors import MissingDependencyError\n"
        "try:\n"
        "    ft.start_run('x', collectors=['system'])\n"
        "except MissingDependencyError as exc:\n"
        "    print('error:', exc)\n"
        "from ferrotrack.collectors.system import SystemCollector\n"
        "try:\n"
        "    SystemCollector().initialize({})\n"
        "except MissingDependencyError as exc:\n"
        "    print('error:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "FERROTRACK_ROOT": str(Path.cwd() / "store-psutil")},
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    assert "'system'" in lines[0]
    assert "psutil" in lines[0]
    assert "pip install psutil" in lines[0]
    assert "the system collector needs the optional dependency 'psutil'" in lines[1]
    assert "pip install psutil" in lines[1]


def test_a_collector_that_cannot_write_its_artifact_warns_once_and_the_run_goes_on(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(Path.cwd() / "no-such-folder"))
    with (
        caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"),
        ft.start_run("no-tmp", collectors=["environment"]) as run,
    ):
        run.log("loss", 0.5, step=0)
        run_dir = run.run_dir
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "'environment'" in warned[0]
    assert "could not write requirements.txt" in warned[0]
    params = json.loads((run_dir / "params.json").read_text())
    assert params["env"]["python"]["executable"] == sys.executable
    assert not (run_dir / "artifacts/environment").exists()
    assert ft.metrics(names=["loss"]).collect()["value"].to_list() == [0.5]


def test_git_with_a_folder_that_does_not_exist(root: Path) -> None:
    with ft.start_run("no-folder", collectors=[git_at(Path.cwd() / "gone")]) as run:
        run_dir = run.run_dir
    tags = json.loads((run_dir / "run.json").read_text())["tags"]
    assert tags["git.repository"].startswith("none: ")
    assert "is not a folder" in tags["git.repository"]


def git_at(path: Path) -> GitCollector:
    c = GitCollector()
    c.initialize({"path": str(path)})
    return c


def test_without_nvidia_ml_py_the_error_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['pynvml'] = None\n"
        "import ferrotrack.core as ft\n"
        "from ferrotrack.collectors.gpu import GpuCollector\n"
        "from ferrotrack.core.errors import MissingDependencyError\n"
        "print('reason:', GpuCollector.unavailable_reason())\n"
        "try:\n"
        "    ft.start_run('x', collectors=['gpu'])\n"
        "except MissingDependencyError as exc:\n"
        "    print('error:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**os.environ, "FERROTRACK_ROOT": str(Path.cwd() / "store-nvml")},
    )  # fmt: skip
    reason, error = done.stdout.splitlines()
    assert "pip install ferrotrack-collectors[gpu]" in reason
    assert "'gpu'" in error
    assert "pip install ferrotrack-collectors[gpu]" in error


def test_collectors_named_in_the_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FERROTRACK_COLLECTORS picks them and FERROTRACK_COLLECTOR_CONFIGS__<NAME>__<KEY>
    configures them: start_run names none."""
    monkeypatch.setenv("FERROTRACK_COLLECTORS", "system,scheduler")
    monkeypatch.setenv("FERROTRACK_COLLECTOR_CONFIGS__SYSTEM__PER_CORE", "false")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with ft.start_run("from-env", experiment="settings") as run:
        run.log("loss", 0.5, step=0)
        busy_until = time.process_time() + 0.15  # the stop's sample then has CPU values
        while time.process_time() < busy_until:
            pass
        run_dir = run.run_dir
    names = set(ft.metrics(experiment="settings").collect()["name"].to_list())
    assert {"loss", "sys/mem/used_bytes", "sys/cpu/percent"} <= names  # the stop's sample
    assert not [n for n in names if n.startswith("sys/cpu/0/")]  # per_core = false
    assert json.loads((run_dir / "run.json").read_text())["tags"]["scheduler"] == "none"


def test_collectors_named_in_ferrotrack_toml(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FERROTRACK_COLLECTORS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    monkeypatch.setenv("MKL_NUM_THREADS", "6")
    (Path.cwd() / "ferrotrack.toml").write_text(
        'collectors = ["environment"]\n\n'
        "[collector_configs.environment]\n"
        'env_vars = ["OMP_NUM_THREADS"]\n'
        "packages = false\n"
    )
    with ft.start_run("from-file") as run:
        run_dir = run.run_dir
    params = json.loads((run_dir / "params.json").read_text())
    assert params["env"]["vars"] == {"OMP_NUM_THREADS": "5"}
    assert not (run_dir / "artifacts/environment").exists()


def test_a_part_that_raises_warns_once_and_the_run_keeps_its_points(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """psutil failing on every sample (as where /proc/swaps cannot be read, injected
    here): one warning naming the collector over many samples; the other parts of each
    sample, what the run logs and the other collectors' facts are all there."""
    import psutil

    def unreadable() -> object:
        raise OSError(13, "Permission denied", "/proc/swaps")

    monkeypatch.setattr(psutil, "swap_memory", unreadable)
    system = SystemCollector()
    system.initialize({"interval": 0.02})
    with (
        caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"),
        ft.start_run("raising", experiment="raising", collectors=[system, "scheduler"]) as run,
    ):
        for step in range(3):
            run.log("loss", 1.0 / (step + 1), step=step)
        deadline = time.monotonic() + 30
        while system.errors < 5:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        run.log("loss", 0.2, step=3)
        run_dir = run.run_dir
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "'system'" in warned[0]
    assert "could not read swap (PermissionError" in warned[0]
    assert system.get_status()["errors"] >= 5
    names = set(ft.metrics(experiment="raising").collect()["name"].to_list())
    assert {"sys/mem/used_bytes", "sys/cpu/percent", "sys/proc/rss_bytes"} <= names
    assert not [n for n in names if n.startswith("sys/swap/")]
    params = json.loads((run_dir / "params.json").read_text())
    assert params["sys"]["cpu_count"] == os.cpu_count()
    assert "swap_total_bytes" not in params["sys"]
    loss = ft.metrics(experiment="raising", names=["loss"]).collect()["value"].to_list()
    assert loss == [1.0, 0.5, 1.0 / 3, 0.2]
    assert "scheduler" in json.loads((run_dir / "run.json").read_text())["tags"]
