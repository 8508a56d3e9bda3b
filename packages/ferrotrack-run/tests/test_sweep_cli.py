"""``ferrotrack sweep MODEL.yaml`` end to end: the installed script, a real store, real
processes; bad specs are usage errors naming the option."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from run_fixtures import PY

FERROTRACK = str(Path(PY).parent / "ferrotrack")

# The point's command: reads lr from the rendered file, logs loss = lr * SCALE (SCALE comes
# from the backend config file's env_vars).
COMMAND = (
    "import os, ferrotrack.core as ft; "
    "ft.log('loss', float(open('lr.txt').read()) * float(os.environ['SCALE']), 0)"
)


def write_model(tmp_path: Path) -> Path:
    path = tmp_path / "model.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "run_id": "cli",
                "experiment": "cli-sweeps",
                "output_dir": str(tmp_path / "runs"),
                "config": {"lr": 0.1},
                "templates": {"lr.txt": "{{ lr }}"},
                "command": [PY, "-c", COMMAND],
            }
        )
    )
    return path


def sweep_cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FERROTRACK, "--root", str(root), "sweep", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_a_grid_sweep_from_the_shell_prints_one_row_per_point(root: Path, tmp_path: Path) -> None:
    backend = tmp_path / "backend.yaml"
    backend.write_text(
        "backend_type: docker\nimage: nothing\n---\nbackend_type: local\nenv_vars: {SCALE: '10'}\n"
    )
    done = sweep_cli(
        root,
        str(write_model(tmp_path)),
        "--grid",
        "lr=1e-3,1e-2",
        "--backend",
        "local",
        "--backend-config",
        str(backend),
        "--max-concurrency",
        "2",
        "--output",
        "json",
    )

    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [(r["point"], r["lr"], r["success"], r["status"]) for r in rows] == [
        (0, 0.001, True, "finished"),
        (1, 0.01, True, "finished"),
    ]
    assert [r["loss"] for r in rows] == pytest.approx([0.01, 0.1])
    assert all((root / "experiment=cli-sweeps" / f"run={r['run_id']}").is_dir() for r in rows)


@pytest.mark.slow
def test_a_random_sweep_from_the_shell_is_reproducible_and_fails_with_a_point(
    root: Path, tmp_path: Path
) -> None:
    model = str(write_model(tmp_path))  # SCALE unset: every point fails
    args = [model, "--random", "lr=uniform(0,1)", "--samples", "2", "--seed", "3"]
    first = sweep_cli(root, *args, "--output", "csv")
    again = sweep_cli(root, *args, "--output", "csv")

    assert first.returncode == again.returncode == 1
    header, *lines = first.stdout.splitlines()
    assert header == "point,run_id,model_run_id,success,status,exit_code,duration_s,lr"
    lrs = [line.split(",")[-1] for line in lines]
    assert lrs == [line.split(",")[-1] for line in again.stdout.splitlines()[1:]]
    assert [line.split(",")[3:6] for line in lines] == [["false", "failed", "1"]] * 2


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--grid", "lr"], "--grid 'lr': expected KEY=..."),
        (["--random", "lr=normal(0,1)"], "unknown distribution 'normal'"),
        (["--random", "lr=uniform(0,1)"], "--random needs --samples"),
        (["--grid", "lr=1", "--random", "b=uniform(0,1)"], "not both"),
        ([], "give --grid"),
    ],
)
def test_bad_specs_are_usage_errors(
    root: Path, tmp_path: Path, args: list[str], expected: str
) -> None:
    done = sweep_cli(root, str(write_model(tmp_path)), *args)
    assert done.returncode == 2
    assert expected in done.stderr
    assert not (root / "experiment=cli-sweeps").exists()
