"""The demo experiment (``examples/demo_experiment``) runs as the README says: a real
``ferrotrack`` process, seeded, so its outcome is the same every time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from experiment_fixtures import runs_at

DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo_experiment"


@pytest.mark.slow
def test_demo_experiment_outcome(tmp_path: Path) -> None:
    # The same layout as the repository, so env.yaml's relative workspace stays in tmp_path.
    repo = tmp_path / "repo"
    shutil.copytree(DEMO, repo / "examples" / "demo_experiment")
    store = tmp_path / "store"
    command = [
        sys.executable,
        "-m",
        "ferrotrack.core.cli",
        "experiment",
        "run",
        "examples/demo_experiment",
        "--import",
        "examples/demo_experiment/pipelines.py",
        "--no-progress",
    ]
    done = subprocess.run(
        command,
        cwd=repo,
        env={**os.environ, "FERROTRACK_ROOT": str(store), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "4 completed, 4 stopped, 1 failed, 0 skipped" in done.stdout
    assert "failed too-high/0: DivergedError" in done.stdout
    trial_runs = runs_at(store, "trial_run")
    assert len(trial_runs) == 9
    [failed] = [r for r in trial_runs if r.status == "failed"]
    assert failed.meta["name"] == "too-high/0"
    assert failed.meta["error"]["type"] == "DivergedError"
    assert (repo / "ferrotrack-runs" / "demo-experiment-workspace").is_dir()


def test_demo_description_matches_its_repeats() -> None:
    experiment = yaml.safe_load((DEMO / "experiment.yaml").read_text())
    trials = yaml.safe_load((DEMO / "trials.yaml").read_text())
    [sweep] = [t for t in trials if t["name"] == "sweep"]
    words = {1: "one", 2: "two", 3: "three", 4: "four"}
    assert f"{words[sweep['repeat']]} repeats each" in experiment["desc"]
