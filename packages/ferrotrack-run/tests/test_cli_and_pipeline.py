"""``ferrotrack run``, ``ferrotrack backends``, and the local pipeline (generate, run,
postprocess through plugins found by name), each as a user drives them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from run_fixtures import log_text, py

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.run import BackendConfigError, ModelRun

FERROTRACK = [sys.executable, "-m", "ferrotrack.core.cli"]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FERROTRACK, *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.slow
def test_ferrotrack_run_with_a_backend_config_file(root: Path, tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text(
        "run_id: cli-model\nconfig:\n  lr: 0.1\n"
        "templates:\n  in.txt: 'lr={{ lr }}'\n"
        f"command: [{sys.executable!r}, '-c', 'print(open(\"in.txt\").read())']\n"
    )
    (tmp_path / "backends.yaml").write_text(
        "backend_type: local\ntimeout: 60\n---\nbackend_type: local\ntimeout: 1\n"
    )
    done = cli("run", "model.yaml", "--backend-config", "backends.yaml", "--set", "lr=0.5",
               "--set", "opt.lr=1e-3", "--set", "opt.start=2024-01-01", "--set", "tags=[1, 2]",
               "--json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["success"] is True
    assert log_text(Path(outcome["run_dir"])) == "lr=0.5\n"
    runs = ft.runs(root)
    assert runs["params.run_backend.timeout"].to_list() == [60.0]
    assert runs["params.lr"].to_list() == [0.5]
    assert runs["params.opt.lr"].to_list() == [0.001]  # a float, as YAML 1.2 reads 1e-3
    assert runs["params.opt.start"].to_list() == ["2024-01-01"]
    assert runs["params.tags"].to_list() == [[1, 2]]


def test_ferrotrack_run_refuses_a_dotted_key_over_a_setting(root: Path, tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("run_id: m\ncommand: 'true'\nconfig: {optimizer: adam}\n")
    done = cli("run", "model.yaml", "--set", "optimizer.lr=0.1", cwd=tmp_path)
    assert done.returncode == 1
    assert "'optimizer.lr'" in done.stderr
    assert "Traceback" not in done.stderr
    assert ft.runs(root).is_empty()


DEMO_MODEL = Path(__file__).resolve().parents[3] / "examples" / "demo_model"


@pytest.mark.slow
def test_the_demo_model_runs_from_its_folder_and_from_elsewhere(root: Path, tmp_path: Path) -> None:
    """examples/demo_model's paths are relative to its model.yaml: ``cd`` there or not."""
    folder = tmp_path / "demo_model"
    shutil.copytree(
        DEMO_MODEL, folder, ignore=shutil.ignore_patterns("ferrotrack-model-runs", "__pycache__")
    )
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for cwd, model_file in ((folder, "model.yaml"), (tmp_path, "demo_model/model.yaml")):
        done = subprocess.run([*FERROTRACK, "run", model_file, "--json"], cwd=cwd, env=env,
                              capture_output=True, text=True, check=False, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["success"] is True
        assert "simulated 200 steps" in log_text(Path(json.loads(done.stdout)["run_dir"]))
    heights = folder / "ferrotrack-model-runs" / "waves" / "heights.txt"
    assert len(heights.read_text().splitlines()) == 200
    assert not (tmp_path / "ferrotrack-model-runs").exists()


def test_ferrotrack_run_exits_1_with_the_reason(root: Path, tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("run_id: failing\ncommand: exit 4\n")
    done = cli("run", "model.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "failed: model run failing on local" in done.stdout
    assert "reason: exited with status 4" in done.stdout


def test_ferrotrack_run_refuses_a_config_of_another_backend(root: Path, tmp_path: Path) -> None:
    (tmp_path / "model.yaml").write_text("run_id: m\ncommand: 'true'\n")
    (tmp_path / "b.yaml").write_text("backend_type: local\n")
    done = cli("run", "model.yaml", "--backend", "other", "--backend-config", "b.yaml",
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 1
    assert "has no config for backend 'other' (it has: local)" in done.stderr


def test_backends_list_validate_and_schema(root: Path, tmp_path: Path) -> None:
    listed = cli("backends", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["local"]["available"] is True
    assert rows["local"]["package"] == "ferrotrack-run"
    assert rows["custom"]["package"] == "mypackage"  # seed 003's third-party backend
    (tmp_path / "ok.yaml").write_text("backend_type: local\n---\nbackend_type: local\n")
    valid = cli("backends", "validate", "ok.yaml", cwd=tmp_path)
    assert valid.returncode == 0
    assert valid.stdout.count("ok: document") == 2
    (tmp_path / "bad.yaml").write_text("backend_type: local\ngrace: -1\n")
    invalid = cli("backends", "validate", "bad.yaml", cwd=tmp_path)
    assert invalid.returncode == 1
    assert "grace: Input should be greater than or equal to 0" in invalid.stderr
    schema = cli("backends", "schema", "local", cwd=tmp_path)
    assert json.loads(schema.stdout)["properties"]["backend_type"]["const"] == "local"
    unknown = cli("backends", "schema", "nope", cwd=tmp_path)
    assert unknown.returncode == 1
    assert "unknown backend_type 'nope'; installed run backends:" in unknown.stderr


# ---- the local pipeline ---------------------------------------------------------------------


def test_the_pipeline_runs_every_stage(root: Path, tmp_path: Path) -> None:
    model = ModelRun(
        run_id="pipe",
        output_dir=tmp_path / "out",
        templates={"in.txt": "x"},
        command=py("open('result.txt', 'w').write('done')"),
    )
    results = model.pipeline(pipeline_backend="local", processor="noop")
    assert results["success"] is True, results
    assert results["stages_completed"] == ["generate", "run", "postprocess"]
    assert results["run_id"] == "pipe"
    assert results["postprocess"]["success"] is True
    assert results["tracked_run_id"] == model.tracked_run.run_id  # type: ignore[union-attr]


def test_a_failing_run_stops_the_pipeline_and_cleans_up(root: Path, tmp_path: Path) -> None:
    model = ModelRun(run_id="pipefail", output_dir=tmp_path / "out", command="exit 2",
                     templates={"in.txt": "x"})  # fmt: skip
    results = model.pipeline(cleanup_on_failure=True)
    assert results["success"] is False
    assert results["stages_completed"] == ["generate"]
    assert results["failed_stage"] == "run"
    assert "exited with status 2" in results["error"]
    assert results["cleaned_up"] is True
    assert not model.staging_dir.exists()
    tracked = model.tracked_run
    assert tracked is not None
    assert tracked.status == "failed"  # the record stays, the working folder went
    assert (tracked.run_dir / "logs" / "stdout.txt").exists()


def test_a_failing_postprocessor_is_reported(root: Path, tmp_path: Path) -> None:
    model = ModelRun(run_id="nopost", output_dir=tmp_path / "out", command="true")
    results = model.pipeline(processor="noop", process_kwargs={"output_dir": str(tmp_path / "x")})
    assert results["success"] is False
    assert results["failed_stage"] == "postprocess"
    assert results["stages_completed"] == ["generate", "run"]
    assert str(tmp_path / "x") in results["error"]


def test_pipeline_arguments_are_checked(root: Path) -> None:
    with pytest.raises(BackendConfigError, match=r"pipeline local.*run_kwarg"):
        ModelRun(run_id="args").pipeline(run_kwarg={})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"processor": "no-such-processor"}, r"no postprocess plugin named 'no-such-processor'"),
        ({"run_backend": "no-such-backend"}, r"no run plugin named 'no-such-backend'"),
    ],
)
def test_an_unknown_plugin_name_is_refused_before_the_model_runs(
    root: Path, tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    model = ModelRun(run_id="unknown", output_dir=tmp_path / "out", command="true",
                     templates={"in.txt": "x"})  # fmt: skip
    with pytest.raises(InvalidArgumentError, match=message) as raised:
        model.pipeline(**kwargs)
    assert "known: " in str(raised.value)
    assert "noop" in str(raised.value) or "local" in str(raised.value)
    assert not model.staging_dir.exists()  # nothing generated
    assert model.tracked_run is None
    assert ft.runs(root).is_empty()  # nothing ran
