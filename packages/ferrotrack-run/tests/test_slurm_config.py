"""The slurm backend's config and batch script, without a cluster: bad fields are named
before anything is submitted, time limits parse in sbatch's forms, and the script the job
runs gives the command exactly the environment it was meant to have."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ferrotrack.run import BackendConfigError, ModelRun
from ferrotrack.run.backends.slurm import (
    ENV_FILE,
    EXIT_CODE,
    JOB_SCRIPT,
    SlurmBackend,
    job_environment,
    parse_array_tasks,
    sbatch_options,
    write_job,
)
from ferrotrack.run.configs import builtin_config_class
from ferrotrack.run.configs.slurm import SlurmConfig, parse_time_limit
from ferrotrack.run.loading import load_backend_configs
from ferrotrack.run.process import CommandSpec


@pytest.mark.parametrize(
    ("given_", "seconds"),
    [
        (90, 5400),
        ("90", 5400),
        ("1:30", 90),
        ("01:30:00", 5400),
        ("2-00", 172800),
        ("1-02:03", 93780),
        ("1-2:03:04", 93784),
    ],
)
def test_time_limits_in_sbatch_forms(given_: int | str, seconds: int) -> None:
    assert parse_time_limit(given_) == seconds
    assert SlurmConfig(time_limit=given_).time_limit_seconds() == seconds


@given(st.integers(min_value=1, max_value=400 * 86400))
def test_a_time_limit_written_as_d_hh_mm_ss_reads_back(seconds: int) -> None:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    assert parse_time_limit(f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}") == seconds
    assert parse_time_limit(f"{days * 24 + hours}:{minutes:02d}:{secs:02d}") == seconds


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("time_limit", "1:61", "seconds must be below 60"),
        ("time_limit", "soon", "expected minutes"),
        ("time_limit", 0, "at least 1 minute"),
        ("mem", "lots", "expected megabytes"),
        ("partition", "two words", "without spaces"),
        ("cpus_per_task", 0, "greater than or equal to 1"),
        ("poll_interval", 0, "greater than 0"),
        ("additional_options", ["exclusive"], "expected sbatch options"),
        ("additional_options", ["--output=x.txt"], "set by the slurm backend itself"),
        ("additional_options", ["--out=x.txt"], r"--out \(--output\) is set"),
        ("additional_options", ["--arr=0-3"], r"--arr \(--array\) is set"),
        ("additional_options", ["-ox.txt"], r"-ox.txt \(-o\) is set"),
        ("additional_options", ["--hold"], "would keep the job from running"),
        ("additional_options", ["-H"], r"-H \(-H\) is set"),
        ("additional_options", ["--chdir=/tmp"], r"--chdir \(--chdir\) is set"),
        ("additional_options", ["--export=NONE"], r"--export \(--export\) is set"),
        ("additional_options", ["--wait"], r"--wait \(--wait\) is set"),
        ("grace", 2.0, "the cluster's KillWait"),
        ("max_array_concurrency", 0, "greater than or equal to 1"),
    ],
)
def test_a_bad_field_is_named_before_anything_is_submitted(
    root: Path, field: str, value: object, message: str
) -> None:
    model = ModelRun(run_id="bad-config", command="true")
    with pytest.raises(BackendConfigError, match=rf"backend 'slurm'.*{field}.*{message}"):
        SlurmBackend().run(model, **{field: value})
    assert model.tracked_run is None  # no run was opened


def test_an_unknown_key_is_refused(root: Path) -> None:
    with pytest.raises(BackendConfigError, match="partitoin: Extra inputs are not permitted"):
        SlurmBackend().run(ModelRun(run_id="typo", command="true"), partitoin="debug")


def test_slurm_configs_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text(
        "backend_type: slurm\npartition: batch\ntime_limit: '00:30:00'\nmem: 4g\n"
        "additional_options: ['--exclusive']\nmax_array_concurrency: 8\n"
    )
    (config,) = load_backend_configs(path)
    assert isinstance(config, SlurmConfig)
    assert builtin_config_class("slurm") is SlurmConfig
    assert (config.partition, config.mem, config.max_array_concurrency) == ("batch", "4G", 8)
    options = sbatch_options(config, timeout=None)
    assert "--partition=batch" in options
    assert "--time=00:30:00" in options
    assert "--mem=4G" in options
    assert options[-1] == "--exclusive"
    bad = tmp_path / "bad.yaml"
    bad.write_text("backend_type: slurm\nnodes: many\n")
    with pytest.raises(BackendConfigError, match=rf"in {bad}: nodes: Input should be"):
        load_backend_configs(bad)


def test_a_timeout_without_time_limit_becomes_a_time_backstop() -> None:
    assert "--time=2" in sbatch_options(SlurmConfig(), timeout=30)
    assert "--time=3" in sbatch_options(SlurmConfig(), timeout=61)
    assert "--time=10" in sbatch_options(SlurmConfig(time_limit=10), timeout=30)
    assert not [o for o in sbatch_options(SlurmConfig(), timeout=None) if o.startswith("--time")]


@pytest.mark.parametrize(
    ("text", "tasks"),
    [("3", [3]), ("3-5%2", [3, 4, 5]), ("1,4-8:2", [1, 4, 6, 8]), ("0-1,7", [0, 1, 7])],
)
def test_array_task_ranges_of_scontrol(text: str, tasks: list[int]) -> None:
    assert parse_array_tasks(text) == tasks


_names = st.from_regex(r"\AFT_[A-Z0-9_]{1,8}\Z")
_values = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(env=st.dictionaries(_names, _values, max_size=4), arg=_values)
def test_the_batch_script_gives_the_command_its_exact_environment(
    tmp_path: Path, env: dict[str, str], arg: str
) -> None:
    """Run by /bin/sh as Slurm would: every value (quotes, newlines, $...) arrives as it
    was, and the exit code is recorded in logs/."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    (logs / EXIT_CODE).unlink(missing_ok=True)
    dump = "import json, os, sys; print(json.dumps([dict(os.environ), sys.argv[1]])); sys.exit(4)"
    spec = CommandSpec(
        argv=[sys.executable, "-c", dump, arg],
        cwd=str(tmp_path),
        env={"PATH": "/usr/bin:/bin", **env},
        stdout="",
        stderr="",
    )
    script = write_job(spec, logs, "prop")
    done = subprocess.run(
        ["/bin/sh", str(script)], env={}, capture_output=True, text=True, check=False
    )
    assert done.returncode == 4, done.stderr
    seen_env, seen_arg = json.loads(done.stdout)
    assert seen_arg == arg
    for name, value in env.items():
        assert seen_env[name] == value
    assert (logs / EXIT_CODE).read_text() == "4\n"


def test_a_missing_working_folder_is_recorded_by_the_script(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    spec = CommandSpec(argv=["true"], cwd=str(tmp_path / "nowhere"), env={}, stdout="", stderr="")
    script = write_job(spec, logs, "nowhere")
    done = subprocess.run(["/bin/sh", str(script)], capture_output=True, check=False)
    assert done.returncode == 127
    assert (logs / EXIT_CODE).read_text() == "127\n"
    assert (logs / "slurm_error").read_text().startswith("working folder not found: ")


def test_options_that_merely_look_alike_are_kept() -> None:
    config = SlurmConfig(additional_options=["--exclusive", "--partition=x", "-N1", "--comment=c"])
    assert sbatch_options(config, None)[-4:] == [
        "--exclusive",
        "--partition=x",
        "-N1",
        "--comment=c",
    ]


def test_the_environment_file_holds_only_what_differs(tmp_path: Path) -> None:
    """What equals the submitter's environment travels by sbatch --export=ALL; a SLURM_*
    variable of the submitter (a job it runs in) is left to the job's own, a model's own
    SLURM_* variable is exported, a variable the child must not have is unset; the files
    are the owner's only."""
    base = {"HOME": "/root", "SLURM_JOB_ID": "7", "RANK": "3", "SLURM_MPI_TYPE": "none"}
    env = {"HOME": "/root", "SLURM_JOB_ID": "7", "SLURM_MPI_TYPE": "pmi2", "TOKEN": "s e"}
    spec = CommandSpec(argv=["true"], cwd=str(tmp_path), env=env, stdout="", stderr="")
    assert job_environment(spec, base).splitlines() == [
        "export SLURM_MPI_TYPE=pmi2",
        "export TOKEN='s e'",
        "unset RANK",
    ]
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / JOB_SCRIPT).write_text("old")
    (logs / JOB_SCRIPT).chmod(0o644)
    script = write_job(spec, logs, "private")
    assert "s e" not in script.read_text()
    assert (script.stat().st_mode & 0o777, (logs / ENV_FILE).stat().st_mode & 0o777) == (
        0o600,
        0o600,
    )


def test_a_missing_environment_file_is_recorded_by_the_script(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    spec = CommandSpec(argv=["true"], cwd=str(tmp_path), env={}, stdout="", stderr="")
    script = write_job(spec, logs, "noenv")
    (logs / ENV_FILE).unlink()
    done = subprocess.run(["/bin/sh", str(script)], capture_output=True, check=False)
    assert done.returncode == 1
    assert (logs / EXIT_CODE).read_text() == "1\n"
    assert (logs / "slurm_error").read_text() == f"environment file not found: {logs / ENV_FILE}\n"
