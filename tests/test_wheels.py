"""The wheels `just wheels` builds, installed into fresh venvs the way a user installs them.

What this guards: ``ferrotrack-core`` alone works from its wheel (the native extension inside,
the CLI entry point, the PEP 420 namespace) and pulls no backend library; the pure-Python
packages install next to it without heavy dependencies and register their plugins.

Timings on the 2-core dev machine (2026-11-30), target/ warm from ``just setup``: building
every wheel 6.5 s (core 1.3 s of it: maturin reuses the release build of ``maturin develop``;
a cold target/ costs ~80 s; the pure-Python wheels are isolated setuptools builds, ~4 s), a
venv 0.1 s, installing into it from a warm pip cache 11.6 s (a cold cache downloads polars
and pyarrow too), the probe and the CLI calls under 1 s; the whole module 31 s.
"""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
# Libraries a backend needs; none may come with core or with ferrotrack-backends sans extras.
HEAVY = {
    "mlflow",
    "mlflow-skinny",
    "tensorboard",
    "tensorboardx",
    "wandb",
    "clearml",
    "aim",
    "sqlalchemy",
    "psycopg",
    "torch",
    "ray",
    "distributed",
    "dask",
    "matplotlib",
}

PROBE = """
import json, sys
import ferrotrack
import ferrotrack.core as ft

root = sys.argv[1]
with ft.start_run("from-wheel", experiment="wheels", root=root, params={"lr": 0.5}) as run:
    for step in range(100):
        run.log("loss", 1.0 / (step + 1), step)
table = ft.runs(root, experiment="wheels")
points = ft.metrics(root, experiment="wheels").collect()
print(json.dumps({
    "namespace_file": ferrotrack.__file__,
    "core_file": ft.__file__,
    "native_file": ft._native.__file__,
    "runs": table.height,
    "status": table["status"].to_list(),
    "points": points.height,
    "steps": points["step"].to_list(),
    "last": points["value"].to_list()[-1],
}))
"""


def _timed(
    label: str, cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs ``cmd``, failing with its output; prints how long it took (see the docstring)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=cwd)
    print(f"{label}: {time.perf_counter() - start:.1f} s")
    assert proc.returncode == 0, (
        f"{label} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    )
    return proc


def _clean_env(venv: Path | None = None) -> dict[str, str]:
    """The environment without the dev .venv or repository paths leaking into a fresh venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"} and not k.startswith("FERROTRACK_")
    }
    if venv is not None:
        env["VIRTUAL_ENV"] = str(venv)
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fresh wheels from this checkout (never a stale dist/), built by the `just wheels` script."""
    out = tmp_path_factory.mktemp("wheels")
    _timed("build wheels", ["bash", str(REPO / "scripts/wheels.sh"), str(out)], cwd=REPO)
    return out


def _wheel(wheel_dir: Path, dist: str) -> Path:
    found = sorted(wheel_dir.glob(f"{dist.replace('-', '_')}-*.whl"))
    assert len(found) == 1, f"expected one {dist} wheel in {wheel_dir}, got {found}"
    return found[0]


def _venv_with(tmp_path: Path, wheels: list[Path]) -> Path:
    """A fresh venv (no system site-packages) holding ``wheels`` and their registry deps.

    ferrotrack's own distributions come only from the wheel files given; pip of the dev venv
    installs into it (``--python``), which saves bootstrapping pip into every venv.
    """
    venv = tmp_path / "venv"
    _timed("create venv", [sys.executable, "-m", "venv", "--without-pip", str(venv)])
    _timed(
        "pip install " + " ".join(w.name for w in wheels),
        [
            *_pip(venv),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--find-links",
            str(wheels[0].parent),
            *map(str, wheels),
        ],
        env=_clean_env(),
        cwd=tmp_path,
    )
    return venv


def _pip(venv: Path) -> list[str]:
    """The dev venv's pip, acting on ``venv``."""
    return [sys.executable, "-m", "pip", "--python", str(venv / "bin/python")]


def _installed(venv: Path) -> set[str]:
    proc = _timed(
        "pip list",
        [*_pip(venv), "list", "--format", "json", "--disable-pip-version-check"],
        env=_clean_env(),
    )
    return {p["name"].lower().replace("_", "-") for p in json.loads(proc.stdout)}


@pytest.fixture
def core_venv(tmp_path: Path, wheel_dir: Path) -> Path:
    return _venv_with(tmp_path, [_wheel(wheel_dir, "ferrotrack-core")])


def test_core_wheel_alone_logs_reads_and_pulls_no_backend(core_venv: Path, tmp_path: Path) -> None:
    """Core from its wheel: logs and reads back, CLI works, namespace intact, no heavy deps."""
    py = str(core_venv / "bin/python")
    env = _clean_env(core_venv)
    proc = _timed("probe", [py, "-c", PROBE, str(tmp_path / "store")], env=env, cwd=tmp_path)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["namespace_file"] is None, "a ferrotrack/__init__.py would break every sibling"
    # The code under test is the installed wheel, not this checkout.
    assert got["core_file"].startswith(str(core_venv)), got["core_file"]
    assert got["native_file"].startswith(str(core_venv)), got["native_file"]
    assert got["runs"] == 1
    assert got["status"] == ["finished"]
    assert got["points"] == 100
    assert got["steps"] == list(range(100))
    assert got["last"] == pytest.approx(1 / 100)

    version = _timed(
        "ferrotrack --version", [str(core_venv / "bin/ferrotrack"), "--version"], env=env
    )
    assert version.stdout.startswith("ferrotrack "), version.stdout

    installed = _installed(core_venv)
    assert "ferrotrack-core" in installed
    assert not installed & HEAVY, f"core pulled backend libraries: {installed & HEAVY}"
    assert not {"ferrotrack-backends", "ferrotrack"} & installed


def _declared_backends(wheel: Path) -> set[str]:
    """The ``ferrotrack.backends`` entry points a wheel declares."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = zf.read(name).decode()
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return (
        set(parser["ferrotrack.backends"]) if parser.has_section("ferrotrack.backends") else set()
    )


@pytest.mark.skipif(
    not (REPO / "packages/ferrotrack-backends/pyproject.toml").exists(),
    reason="packages/ferrotrack-backends is not in this checkout",
)
def test_backends_wheel_without_extras_pulls_nothing_heavy(wheel_dir: Path, tmp_path: Path) -> None:
    """ferrotrack-backends sans extras: no client library, and its plugins are registered."""
    backends = _wheel(wheel_dir, "ferrotrack-backends")
    venv = _venv_with(tmp_path, [_wheel(wheel_dir, "ferrotrack-core"), backends])
    installed = _installed(venv)
    assert {"ferrotrack-core", "ferrotrack-backends"} <= installed
    assert not installed & HEAVY, f"backends pulled heavy libraries: {installed & HEAVY}"

    declared = _declared_backends(backends)
    assert declared, "ferrotrack-backends declares no ferrotrack.backends entry point"
    listing = _timed(
        "ferrotrack plugins list",
        [str(venv / "bin/ferrotrack"), "plugins", "list", "--json", "--type", "backend"],
        env=_clean_env(venv),
        cwd=tmp_path,
    )
    listed = {p["name"]: p for p in json.loads(listing.stdout)}
    assert declared <= set(listed), f"missing from plugins list: {declared - set(listed)}"
    for name in declared:
        assert listed[name]["package"] == "ferrotrack-backends", listed[name]
    # Without its extra, a backend is listed as unavailable, and asking for it says what to
    # install. jsonl needs nothing, and tensorboard's event files are written by the store's
    # own native code (its extra brings TensorBoard, the viewer).
    light = {"jsonl", "tensorboard"}
    assert all(listed[name]["available"] for name in light & declared), listed
    for name in declared - light:
        assert listed[name]["available"] is False, listed[name]
        assert listed[name]["install_hint"] == f"pip install ferrotrack-backends[{name}]"
    probe = (
        "import ferrotrack.core as ft, sys\n"
        "try:\n"
        "    ft.start_run(root=sys.argv[1], backends=['mlflow']).finish()\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    asked = _timed(
        "start_run(backends=['mlflow']) without the extra",
        [str(venv / "bin/python"), "-c", probe, str(tmp_path / "store")],
        env=_clean_env(venv),
        cwd=tmp_path,
    )
    assert asked.stdout.startswith("MissingDependencyError"), asked.stdout
    assert "pip install ferrotrack-backends[mlflow]" in asked.stdout


# What the full `mlflow` distribution adds over its client: the UI server (Flask, gunicorn),
# pandas, scikit-learn, matplotlib. `mlflow-skinny` 3.x itself declares fastapi and uvicorn
# (for its own serving pieces); that cannot be dropped by an extra, so it is allowed here.
MLFLOW_SERVER_SIDE = {"mlflow", "flask", "gunicorn", "pandas", "scikit-learn", "matplotlib"}


def test_the_mlflow_extra_pulls_the_client_not_the_server(wheel_dir: Path, tmp_path: Path) -> None:
    """``ferrotrack-backends[mlflow]`` resolves to the MLflow client (``mlflow-skinny``), no
    torch and none of the server side of the full ``mlflow`` distribution."""
    report = tmp_path / "report.json"
    _timed(
        "pip install --dry-run ferrotrack-backends[mlflow]",
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(report),
            "--find-links",
            str(wheel_dir),
            "ferrotrack-backends[mlflow]",
        ],
        env=_clean_env(),
        cwd=tmp_path,
    )
    names = {
        item["metadata"]["name"].lower().replace("_", "-")
        for item in json.loads(report.read_text())["install"]
    }
    assert {"ferrotrack-backends", "ferrotrack-core", "mlflow-skinny"} <= names
    assert "torch" not in names
    assert not names & MLFLOW_SERVER_SIDE, f"[mlflow] pulled {names & MLFLOW_SERVER_SIDE}"
    assert not names & (HEAVY - {"mlflow-skinny"}), names & HEAVY


EXPERIMENT_PROBE = """
import json, pathlib, sys
from ferrotrack.experiment import Experiment, Pipeline, YAMLSerializable, Metric

@YAMLSerializable.register("WheelPipeline")
class WheelPipeline(Pipeline, YAMLSerializable):
    @Pipeline.run_wrapper
    def run(self, config):
        for epoch in range(config.pipeline.epochs):
            self.run_epoch(epoch)
        self.run_metrics[Metric.TEST_ACC] = 0.9

    @Pipeline.epoch_wrapper
    def run_epoch(self, epoch_idx):
        self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0 / (epoch_idx + 1)

config = pathlib.Path(sys.argv[1])
experiment = Experiment.create(str(config))
experiment.run()
table = experiment.results()
print(json.dumps({"rows": table.height, "status": table["status"].to_list()}))
"""


@pytest.mark.skipif(
    not (REPO / "packages/ferrotrack-experiment/pyproject.toml").exists(),
    reason="packages/ferrotrack-experiment is not in this checkout",
)
def test_experiment_wheel_runs_an_experiment_and_pulls_only_omegaconf(
    wheel_dir: Path, tmp_path: Path
) -> None:
    """ferrotrack-experiment beside core: omegaconf (and its YAML parser) and nothing heavy;
    an experiment runs from the wheels and the `ferrotrack experiment` command is there."""
    experiment = _wheel(wheel_dir, "ferrotrack-experiment")
    venv = _venv_with(tmp_path, [_wheel(wheel_dir, "ferrotrack-core"), experiment])
    installed = _installed(venv)
    assert {"ferrotrack-core", "ferrotrack-experiment", "omegaconf", "pyyaml"} <= installed
    assert not installed & HEAVY, f"experiment pulled heavy libraries: {installed & HEAVY}"
    assert "ferrotrack-backends" not in installed

    config = tmp_path / "config"
    config.mkdir()
    (config / "experiment.yaml").write_text("name: from-wheel\nid: 1\ndesc: probe\nsettings: {}\n")
    (config / "base.yaml").write_text(
        "settings:\n  pipeline:\n    type: WheelPipeline\n    epochs: 2\n"
    )
    (config / "trials.yaml").write_text("- name: only\n  repeat: 2\n  settings: {}\n")
    probe = tmp_path / "probe.py"
    probe.write_text(EXPERIMENT_PROBE)
    env = {**_clean_env(venv), "FERROTRACK_ROOT": str(tmp_path / "store")}
    out = _timed("experiment probe", [str(venv / "bin/python"), str(probe), str(config)], env=env)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "rows": 2,
        "status": ["completed", "completed"],
    }
    shown = _timed(
        "ferrotrack experiment show",
        [str(venv / "bin/ferrotrack"), "experiment", "show", str(config)],
        env=env,
    )
    assert "only" in shown.stdout


RUN_PROBE = """
import json, sys
from ferrotrack.run import ModelRun

model = ModelRun(run_id="wheel", output_dir=sys.argv[1], config={"n": 3},
                 templates={"in.txt": "n={{ n }}"},
                 command=[sys.executable, "-c", "print(open('in.txt').read())"])
ok = model.run(backend="local")
summary = model.postprocess(processor="summary")
try:
    model.postprocess(processor="plots")
    plots = "drawn"
except ImportError as exc:
    plots = str(exc)
out = (model.tracked_run.run_dir / "logs" / "stdout.txt").read_text()
print(json.dumps({"ok": ok, "out": out, "summary": summary["success"], "plots": plots}))
"""


@pytest.mark.skipif(
    not (REPO / "packages/ferrotrack-run/pyproject.toml").exists(),
    reason="packages/ferrotrack-run is not in this checkout",
)
def test_run_and_postprocess_wheels_run_a_model_and_pull_nothing_heavy(
    wheel_dir: Path, tmp_path: Path
) -> None:
    """ferrotrack-run and ferrotrack-postprocess beside core, without extras: Jinja2 and
    PyYAML only; a model runs locally and is summarised; `plots` names its missing extra."""
    wheels = [
        _wheel(wheel_dir, name)
        for name in ("ferrotrack-core", "ferrotrack-run", "ferrotrack-postprocess")
    ]
    venv = _venv_with(tmp_path, wheels)
    installed = _installed(venv)
    assert {"ferrotrack-run", "ferrotrack-postprocess", "jinja2", "pyyaml"} <= installed
    assert not installed & HEAVY, f"run/postprocess pulled heavy libraries: {installed & HEAVY}"
    probe = tmp_path / "probe.py"
    probe.write_text(RUN_PROBE)
    env = {**_clean_env(venv), "FERROTRACK_ROOT": str(tmp_path / "store")}
    out = _timed("run probe", [str(venv / "bin/python"), str(probe), str(tmp_path / "m")], env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert (result["ok"], result["out"], result["summary"]) == (True, "n=3\n", True)
    assert "pip install ferrotrack-postprocess[plots]" in result["plots"]
    listed = _timed("ferrotrack backends list", [str(venv / "bin/ferrotrack"), "backends",
                    "list", "--json"], env=env)  # fmt: skip
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["local"]["available"] is True
    assert rows["ray"]["available"] is False
    assert "pip install ferrotrack-run[ray]" in rows["ray"]["problem"]


FACTS_PROBE = """
import json, subprocess, sys
import ferrotrack.core as ft

subprocess.run(["git", "init", "-q", sys.argv[1]], check=True)
with ft.start_run("facts", experiment="wheels",
                  collectors=["system", "git", "environment", "scheduler", "container"]) as run:
    run.log("loss", 0.5, step=1)
(row,) = ft.runs(experiment="wheels").iter_rows(named=True)
artifacts = sorted(p.relative_to(run.run_dir / "artifacts").as_posix()
                   for p in (run.run_dir / "artifacts").rglob("*") if p.is_file())
params = sorted(k for k in row if k.startswith("params."))
print(json.dumps({"status": row["status"], "params": params, "artifacts": artifacts}))
"""


@pytest.mark.skipif(
    not (REPO / "packages/ferrotrack-collectors/pyproject.toml").exists(),
    reason="packages/ferrotrack-collectors is not in this checkout",
)
def test_collectors_frameworks_and_ui_wheels_pull_only_what_they_declare(
    wheel_dir: Path, tmp_path: Path
) -> None:
    """Collectors (psutil), frameworks (nothing) and the UI (FastAPI, uvicorn, plotly) beside
    core: the collectors record a run from the wheels, the plugins whose libraries are
    extras name them, and `ferrotrack report` writes a page whose scripts came in the wheel."""
    names = ("ferrotrack-core", "ferrotrack-collectors", "ferrotrack-frameworks", "ferrotrack-ui")
    venv = _venv_with(tmp_path, [_wheel(wheel_dir, name) for name in names])
    installed = _installed(venv)
    assert {"psutil", "fastapi", "uvicorn", "plotly"} <= installed
    heavy = installed & (HEAVY | {"lightning", "transformers", "nvidia-ml-py"})
    assert not heavy, f"collectors/frameworks/ui pulled heavy libraries: {heavy}"
    env = {**_clean_env(venv), "FERROTRACK_ROOT": str(tmp_path / "store")}
    probe = tmp_path / "probe.py"
    probe.write_text(FACTS_PROBE)
    out = _timed("facts probe", [str(venv / "bin/python"), str(probe), str(tmp_path)],
                 env=env, cwd=tmp_path)  # fmt: skip
    facts = json.loads(out.stdout.strip().splitlines()[-1])
    assert facts["status"] == "finished"
    assert facts["params"], "the collectors recorded no params"
    assert "environment/requirements.txt" in facts["artifacts"]
    listed = _timed("ferrotrack plugins list", [str(venv / "bin/ferrotrack"), "plugins", "list",
                    "--json"], env=env)  # fmt: skip
    rows = {(row["kind"], row["name"]): row for row in json.loads(listed.stdout)}
    for kind, name, extra in [
        ("collector", "gpu", "ferrotrack-collectors[gpu]"),
        ("framework", "pytorch", "ferrotrack-frameworks[pytorch]"),
        ("framework", "lightning", "ferrotrack-frameworks[lightning]"),
        ("framework", "transformers", "ferrotrack-frameworks[transformers]"),
    ]:
        row = rows[(kind, name)]
        assert row["available"] is False, name
        assert f"pip install {extra}" in f"{row['install_hint']} {row['reason']}", row
    assert rows[("collector", "system")]["available"] is True
    report = tmp_path / "report.html"
    _timed("ferrotrack report", [str(venv / "bin/ferrotrack"), "report", "-o", str(report)],
           env=env)  # fmt: skip
    page = report.read_text()
    assert "facts" in page
    assert "<script" in page
    assert "plotly" in page.lower()
    assert len(page) > 1_000_000, "plotly.js is missing from the report"
