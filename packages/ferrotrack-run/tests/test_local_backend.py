"""The local run backend against real subprocesses: what each execution records, how it
ends (exit, timeout, missing command), and that nothing it started outlives it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import polars as pl
import psutil
import pytest
from run_fixtures import MARK, log_text, processes_with, py, wait_for

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.run import BackendConfigError, ModelRun
from ferrotrack.run.backends.local import LocalBackend


def summary(run: ft.Run) -> dict[str, float]:
    frame = ft.metrics(run.root, runs=[run.run_id]).collect()
    return dict(zip(frame["name"].cast(pl.String), frame["value"], strict=True))


def test_a_run_records_status_exit_code_duration_logs_and_params(root: Path) -> None:
    model = ModelRun(
        run_id="ok",
        config={"lr": 0.1, "layers": {"n": 2}},
        command=py("import sys; print('to out'); print('to err', file=sys.stderr)"),
    )
    assert model.run(backend="local") is True
    run = model.tracked_run
    assert run is not None
    assert run.status == "finished"
    assert run.tags["ferrotrack.exit_code"] == "0"
    assert run.tags["ferrotrack.backend"] == "local"
    assert run.tags["ferrotrack.model_run"] == "ok"
    assert log_text(run.run_dir) == "to out\n"
    assert log_text(run.run_dir, "stderr") == "to err\n"
    assert run.params["lr"] == 0.1
    assert run.params["layers"] == {"n": 2}
    assert run.params["run_backend"]["backend_type"] == "local"
    values = summary(run)
    assert values["run/exit_code"] == 0
    assert 0 < values["run/duration_s"] < 30


def test_the_child_logs_into_the_same_run(root: Path) -> None:
    model = ModelRun(
        run_id="child",
        command=py("import ferrotrack.core as ft\nfor i in range(5): ft.log('child/loss', i, i)"),
    )
    assert model.run()
    run = model.tracked_run
    assert run is not None
    frame = ft.metrics(root, runs=[run.run_id]).collect()
    child = frame.filter(pl.col("name").cast(pl.String) == "child/loss")
    assert child["step"].to_list() == [0, 1, 2, 3, 4]
    assert child["rank"].to_list() == [1] * 5  # the child's own rank, beside the launcher's


def test_a_non_zero_exit_fails_with_the_status(root: Path) -> None:
    model = ModelRun(run_id="bad", command=py("import sys; sys.exit(3)"))
    assert model.run() is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert run.tags["ferrotrack.exit_code"] == "3"
    assert run.tags["ferrotrack.reason"] == "exited with status 3"
    meta = (run.run_dir / "run.json").read_text()
    assert "exited with status 3" in meta


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("no_such_command_xyz --flag", "exited with status 127: /bin/sh could not find"),
        (["no_such_command_xyz", "--flag"], "command not found: no_such_command_xyz"),
    ],
)
def test_a_missing_command_is_named(root: Path, command: str | list[str], expected: str) -> None:
    model = ModelRun(run_id="missing", command=command)
    assert model.run() is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert expected in run.tags["ferrotrack.reason"]


def test_a_missing_working_folder_is_named(root: Path, tmp_path: Path) -> None:
    model = ModelRun(run_id="nowhere", command="true", work_dir=tmp_path / "absent")
    assert model.run() is False
    assert model.tracked_run is not None
    assert "working folder not found" in model.tracked_run.tags["ferrotrack.reason"]


@pytest.mark.slow
def test_a_timeout_ends_the_whole_process_group(root: Path) -> None:
    marker = f"ft-timeout-{uuid.uuid4().hex}"
    # A shell that ignores SIGTERM and starts a grandchild in the background: only SIGKILL
    # of the whole group ends both (the marker is in their environment).
    script = "trap '' TERM; sleep 60 &\nsleep 60\nwait"
    model = ModelRun(run_id="slow", command=["/bin/sh", "-c", script], env_vars={MARK: marker})
    assert model.run(timeout=0.5, grace=0.3) is False
    run = model.tracked_run
    assert run is not None
    assert run.status == "failed"
    assert run.tags["ferrotrack.reason"].startswith("timed out after")
    wait_for("the timed-out command's processes end", lambda: not processes_with(marker), 5)
    assert (
        run.tags["ferrotrack.reason"] == "timed out after 0.5 s; its process group was terminated"
    )


def test_env_vars_and_the_working_folder_reach_the_command(root: Path, tmp_path: Path) -> None:
    code = "import os; print(os.environ['A'], os.environ['B'], os.getcwd())"
    model = ModelRun(run_id="env", command=py(code), env_vars={"A": "model", "B": "model"})
    assert model.run(env_vars={"B": "backend"}, work_dir=str(tmp_path))
    assert model.tracked_run is not None
    assert log_text(model.tracked_run.run_dir).split() == ["model", "backend", str(tmp_path)]
    assert model.tracked_run.params["run_backend"]["env_vars"] == ["B"]  # names, not values


def test_mpiexec_goes_in_front(root: Path, tmp_path: Path) -> None:
    shim = tmp_path / "mpiexec"
    shim.write_text('#!/bin/sh\necho "mpiexec $1 $2"\nshift 2\nexec "$@"\n')
    shim.chmod(0o755)
    model = ModelRun(run_id="mpi", command="echo model")
    assert model.run(mpiexec=str(shim), processes=4)
    assert model.tracked_run is not None
    assert log_text(model.tracked_run.run_dir) == "mpiexec -n 4\nmodel\n"


def test_without_a_command_the_inputs_are_generated(root: Path) -> None:
    model = ModelRun(run_id="gen", config={"n": 7}, templates={"in.txt": "n={{ n }}"})
    assert model.run() is True
    assert (model.staging_dir / "in.txt").read_text() == "n=7"
    assert model.tracked_run is not None
    assert model.tracked_run.tags["ferrotrack.reason"].startswith("no command")


@pytest.mark.parametrize(
    ("options", "field"),
    [({"bogus": 1}, "bogus"), ({"timeout": "soon"}, "timeout"), ({"processes": 0}, "processes")],
)
def test_a_bad_config_names_the_field_and_starts_nothing(
    root: Path, options: dict[str, object], field: str
) -> None:
    model = ModelRun(run_id="cfg", command="true")
    with pytest.raises(BackendConfigError, match=rf"backend 'local': invalid config: {field}"):
        model.run(**options)  # type: ignore[arg-type]
    assert model.tracked_run is None
    assert not root.exists() or ft.runs(root).height == 0


def test_an_unknown_backend_lists_the_installed_ones(root: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"no run plugin named 'nope'.*local"):
        ModelRun(run_id="x").run(backend="nope")


def test_generate_failing_is_recorded(root: Path) -> None:
    model = ModelRun(run_id="tpl", templates={"in.txt": "{{ missing_key }}"}, command="true")
    assert model.run() is False
    assert model.tracked_run is not None
    assert model.tracked_run.status == "failed"
    assert "missing_key" in model.tracked_run.tags["ferrotrack.reason"]


@pytest.mark.slow
def test_run_many_respects_the_concurrency_limit(root: Path, tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    stamps.mkdir()
    code = textwrap.dedent(
        f"""
        import os, time
        name = os.environ['FERROTRACK_RUN_DIR'].rsplit('=', 1)[-1]
        start = time.time(); time.sleep(0.3)
        open(os.path.join({str(stamps)!r}, name), 'w').write(f'{{start}} {{time.time()}}')
        """
    )
    models = [ModelRun(run_id=f"m{i}", command=py(code)) for i in range(6)]
    assert LocalBackend().run_many(models, max_concurrency=2) == [True] * 6
    spans = [tuple(map(float, p.read_text().split())) for p in stamps.iterdir()]
    assert len(spans) == 6
    for start, _ in spans:
        running = sum(1 for s, e in spans if s <= start < e)
        assert running <= 2


@pytest.mark.slow
def test_ctrl_c_ends_the_command_and_marks_the_run_killed(root: Path, tmp_path: Path) -> None:
    marker = f"ft-sigint-{uuid.uuid4().hex}"
    started = tmp_path / "started"
    script = textwrap.dedent(
        f"""
        import sys
        from ferrotrack.run import ModelRun
        model = ModelRun(run_id="sigint", output_dir={str(tmp_path)!r},
                         command="touch {started}; sleep 60", env_vars={{"{MARK}": "{marker}"}})
        try:
            model.run()
        except KeyboardInterrupt:
            print("interrupted", model.tracked_run.run_id)
            sys.exit(130)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    wait_for("the command starts", started.exists)
    wait_for("the sleep runs", lambda: bool(processes_with(marker)))
    os.kill(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130, out
    wait_for("nothing is left running", lambda: not processes_with(marker), 5)
    run_id = out.split()[-1]
    runs = ft.runs(root)
    assert runs.filter(pl.col("run_id") == run_id)["status"].to_list() == ["killed"]


@pytest.mark.slow
def test_ctrl_c_during_run_many_cancels_every_run(root: Path, tmp_path: Path) -> None:
    """With polars loaded (its threads can take the signal), Ctrl-C still ends run_many."""
    marker = f"ft-many-{uuid.uuid4().hex}"
    script = textwrap.dedent(
        f"""
        import sys
        import polars
        from ferrotrack.run import ModelRun
        from ferrotrack.run.backends.local import LocalBackend
        models = [ModelRun(run_id=f"many{{i}}", output_dir={str(tmp_path)!r},
                           command="sleep 60", env_vars={{"{MARK}": "{marker}"}})
                  for i in range(4)]
        try:
            LocalBackend().run_many(models, max_concurrency=2)
        except KeyboardInterrupt:
            sys.exit(130)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])

    def sleeping() -> list[psutil.Process]:
        return [p for p in processes_with(marker) if p.name() == "sleep"]

    wait_for("two commands run", lambda: len(sleeping()) >= 2)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    wait_for("nothing is left running", lambda: not processes_with(marker), 5)
    statuses = ft.runs(root)["status"].to_list()
    assert statuses.count("killed") == 2  # the two not yet started never opened a run
    assert set(statuses) == {"killed"}


@pytest.mark.slow
def test_ctrl_c_during_the_grace_still_kills_the_group(root: Path, tmp_path: Path) -> None:
    """A timeout sends SIGTERM (which the command survives: it only notes it) and waits
    out a long grace: a Ctrl-C in that wait must still kill the whole group at once."""
    marker = f"ft-grace-{uuid.uuid4().hex}"
    termed = tmp_path / "termed"
    command = f"trap 'touch {termed}' TERM; while :; do sleep 0.2; done"
    script = textwrap.dedent(
        f"""
        import sys
        from ferrotrack.run import ModelRun
        model = ModelRun(run_id="grace", output_dir={str(tmp_path)!r}, command={command!r},
                         env_vars={{"{MARK}": "{marker}"}})
        try:
            model.run(timeout=0.3, grace=60)
        except KeyboardInterrupt:
            sys.exit(130)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    wait_for("the timeout's SIGTERM reaches the command", termed.exists)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=20) == 130  # not the 60 s grace
    wait_for("nothing is left running", lambda: not processes_with(marker), 5)


def test_many_open_files_do_not_break_the_wait(root: Path, tmp_path: Path) -> None:
    """With over 1024 files open, the pidfd's number is past select()'s limit: the wait
    still works and the timeout still ends the command."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    marker = f"ft-fds-{uuid.uuid4().hex}"
    held = [open(os.devnull) for _ in range(1100)]  # noqa: SIM115
    try:
        model = ModelRun(run_id="fds", command="sleep 30", env_vars={MARK: marker})
        assert model.run(timeout=0.3, grace=0.2) is False
        assert model.tracked_run is not None
        assert model.tracked_run.tags["ferrotrack.reason"].startswith("timed out after 0.3 s")
        assert not processes_with(marker)
    finally:
        for f in held:
            f.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_real_time_signal_is_named(root: Path) -> None:
    model = ModelRun(run_id="rt", command=["/bin/sh", "-c", "kill -s 40 $$"])
    assert model.run() is False
    assert model.tracked_run is not None
    assert model.tracked_run.tags["ferrotrack.reason"] == "killed by signal 40"


def test_rank_variables_of_the_model_are_kept_ours_are_not(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_RANK", "7")  # the launcher's own: must not reach the child
    code = "import os; print(os.environ.get('RANK'), os.environ.get('LOCAL_RANK'))"
    model = ModelRun(run_id="rank", command=py(code), env_vars={"RANK": "0"})
    assert model.run()
    assert model.tracked_run is not None
    assert log_text(model.tracked_run.run_dir) == "0 None\n"


def test_after_cancel_all_a_late_run_never_starts(root: Path, tmp_path: Path) -> None:
    """A pool thread that opens its run after Ctrl-C was handled is cancelled at once."""
    backend = LocalBackend()
    backend.cancel_all()
    flag = tmp_path / "ran"
    model = ModelRun(run_id="late", command=f"touch {flag}")
    assert backend.run(model) is False
    assert not flag.exists()
    assert model.tracked_run is not None
    assert model.tracked_run.status == "killed"
    assert not (model.tracked_run.run_dir / "logs" / ".cancel").exists()
