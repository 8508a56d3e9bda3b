"""The ``clearml`` backend against the real ClearML client, offline: the session folder
(and its zip) that ``Task.import_offline_session`` would upload holds the params, tags,
status and every finite point; a resume continues the same task; bad input fails clearly.

ClearML's first import takes about a second, each task about half a second to start and
close. HOME and ClearML's variables point into the test's folder: the real ~/.clearml is
never read or written.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import clearml  # noqa: F401  (imported, not skipped: without the extra these tests fail)
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.backends.clearml import ClearmlBackend, OfflineSession, read_session
from ferrotrack.backends.clearml.mapping import flat_params, scalar_name, tags_after
from ferrotrack.core.delivery.replay import sync_run
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.arrow import metrics_to_batch
from ferrotrack.core.plugins.metric import MetricData
from ferrotrack.core.records import RunInfo

STATE = "sync/clearml/state.json"


@pytest.fixture(autouse=True)
def clearml_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A HOME of the test's own, no ClearML settings from the environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("CLEARML_CACHE_DIR", "CLEARML_CONFIG_FILE", "CLEARML_API_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CLEARML_OFFLINE_MODE", raising=False)
    from clearml import Task

    yield
    assert Task.current_task() is None, "the backend closed its task"


def session_of(run_dir: Path) -> tuple[OfflineSession, OfflineSession]:
    """The run's offline session, read from its folder and from its zip."""
    folders = [p for p in (run_dir / "clearml" / "offline").iterdir() if p.is_dir()]
    assert len(folders) == 1, folders
    return read_session(folders[0]), read_session(folders[0].with_suffix(".zip"))


def points(session: OfflineSession) -> list[tuple[str, str, int, float]]:
    return [(s.title, s.series, s.iteration, s.value) for s in session.scalars]


@pytest.mark.slow
def test_a_run_is_an_offline_session_with_everything(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    artifact = root.parent / "model.txt"
    artifact.write_text("weights")
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(
            experiment="exp",
            name="first",
            params={"lr": 0.1, "model": {"depth": 3, "act": "relu"}},
            tags={"team": "a", "flag": ""},
            backends=["clearml"],
        ) as run,
    ):
        for step in range(300):
            run.log({"train/loss": 1.0 / (step + 1), "acc": step / 300}, step=step)
        run.log("train/loss", math.nan, step=300)
        run.log("train/loss", math.inf, step=301)
        run.log_params({"seed": 3})
        run.set_tags({"team": None, "stage": "b"})
        run.log_event("checkpoint", name="ckpt-1")
        run.log_artifact(artifact)
    folder, zipped = session_of(run.run_dir)
    assert folder.task == zipped.task
    assert points(folder) == points(zipped)
    task = folder.task
    assert task["name"] == "first"
    assert task["project_name"] == "exp"
    assert task.get("script") in (None, {}), "no script, diff or requirements captured"
    assert folder.section("General") == {
        "lr": "0.1",
        "model/depth": "3",
        "model/act": "relu",
        "seed": "3",
    }
    props = folder.section("properties")
    assert props["ferrotrack_run_id"] == run.run_id
    assert props["ferrotrack_status"] == "finished"
    assert sorted(folder.tags) == ["flag", "stage:b"]
    want = [("train", "loss", s, 1.0 / (s + 1)) for s in range(300)]
    want += [("acc", "acc", s, s / 300) for s in range(300)]
    got = points(folder)
    assert len(got) == 600, "NaN and inf are skipped"
    assert sorted(got) == sorted(want)
    assert any("ferrotrack checkpoint name=ckpt-1" in m for m in folder.logs)
    [stored] = task["execution"]["artifacts"]
    assert stored["key"] == "model.txt"
    assert Path(stored["uri"]).read_text() == "weights"
    warned = [r.getMessage() for r in caplog.records if "skips NaN" in r.getMessage()]
    assert len(warned) == 1, warned
    assert run.run_id in warned[0]
    frame = ft.metrics(runs=run.run_id).collect()
    assert frame.height == 602, "the store keeps the NaN and the inf"


@pytest.mark.slow
def test_a_resume_and_a_sync_continue_the_same_task_without_duplicates(root: Path) -> None:
    with ft.start_run(experiment="exp", backends=["clearml"]) as run:
        for step in range(200):
            run.log("x", float(step), step=step)
    first, _ = session_of(run.run_dir)
    with ft.start_run(
        experiment="exp", run_id=run.run_id, resume=True, backends=["clearml"]
    ) as again:
        again.log("x", -1.0, step=200)
        again.log_params({"later": True})
    backend = ClearmlBackend()
    backend.initialize({})
    with backend:
        report = sync_run(run.run_dir, backend)
    assert report.ok
    assert report.points_sent == 0
    second, zipped = session_of(run.run_dir)
    assert second.task_id == first.task_id, "one task, continued"
    got = points(second)
    assert got == points(zipped)
    assert len(got) == 201
    assert len(set(got)) == 201
    assert ("x", "x", 200, -1.0) in got
    assert second.section("General") == {"later": "True"}
    assert second.section("properties")["ferrotrack_status"] == "finished"


@pytest.mark.slow
def test_a_sync_of_a_run_without_the_backend_sends_it_whole_once(root: Path) -> None:
    with ft.start_run(experiment="exp", params={"a": {"b": 1}}, tags={"t": "v"}) as run:
        for step in range(50):
            run.log("loss", float(step), step=step)
    for _ in range(2):
        backend = ClearmlBackend()
        backend.initialize({"project": "mirrors", "task_name": "mirror"})
        with backend:
            assert sync_run(run.run_dir, backend).ok
    session, _ = session_of(run.run_dir)
    assert session.task["project_name"] == "mirrors"
    assert session.task["name"] == "mirror"
    assert points(session) == [("loss", "loss", s, float(s)) for s in range(50)]
    assert session.section("General") == {"a/b": "1"}
    assert session.tags == ["t:v"]


@pytest.mark.slow
def test_ranks_above_zero_are_told_in_the_series(tmp_path: Path) -> None:
    backend = ClearmlBackend()
    backend.initialize({"offline_folder": str(tmp_path / "cache")})
    batch = metrics_to_batch([MetricData(name="train/loss", value=1.5, step=4)])
    with backend:
        backend.open_run(RunInfo("e", "r1", "n", tmp_path, started=0, rank=None), {})
        backend.handle_points(batch, 0)
        backend.handle_points(batch, 2)
        backend.set_status("killed")
        folder = backend.session_folder
    assert folder is not None
    assert folder.parent == tmp_path / "cache" / "offline"
    session = read_session(folder)
    assert points(session) == [("train", "loss", 4, 1.5), ("train", "loss [rank 2]", 4, 1.5)]
    assert session.section("properties")["ferrotrack_status"] == "killed"


def test_a_live_rank_above_zero_is_refused_with_what_to_do(tmp_path: Path) -> None:
    from ferrotrack.core.errors import PermanentBackendError

    backend = ClearmlBackend()
    backend.initialize({})
    with pytest.raises(PermanentBackendError, match=r"rank 1's points reach ClearML with"):
        backend.open_run(RunInfo("e", "r1", "n", tmp_path, started=0, rank=1), {})


@pytest.mark.slow
def test_an_unwritable_folder_names_the_backend_the_run_and_the_folder(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = root.parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__CLEARML__OFFLINE_FOLDER", str(blocker))
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "2")
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="exp", backends=["clearml"]) as run,
    ):
        for step in range(20):
            run.log("x", float(step), step=step)
    messages = [r.getMessage() for r in caplog.records if "degraded" in r.getMessage()]
    assert len(messages) == 1, messages
    assert "backend 'clearml' cannot start a ClearML task for run" in messages[0]
    assert run.run_id in messages[0]
    assert str(blocker) in messages[0]
    assert "offline_folder" in messages[0]
    assert ft.metrics(runs=run.run_id).collect().height == 20, "the store keeps every point"


def test_online_with_a_closed_port_fails_fast_without_the_secret(
    root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "s3cr3t-value-never-shown"
    with pytest.raises(InvalidArgumentError, match="not in the URL") as refused:
        ClearmlBackend().initialize({"api_host": f"http://user:{secret}@127.0.0.1:{port}"})
    assert secret not in str(refused.value)
    backend = ClearmlBackend()
    backend.initialize(
        {
            "api_host": f"http://127.0.0.1:{port}",
            "access_key": "AKEY-also-secret",
            "secret_key": secret,
        }
    )
    assert backend.config.is_offline is False
    assert secret not in repr(backend.config)
    assert secret not in str(backend.config.model_dump())
    info = RunInfo("e", "r-online", "n", root, started=0)
    began = time.monotonic()
    with pytest.raises(ConnectionError) as caught:
        backend.open_run(info, {})
    assert time.monotonic() - began < 5.0, "fails fast"
    message = str(caught.value)
    assert f"cannot reach the ClearML server http://127.0.0.1:{port}" in message
    assert "r-online" in message
    assert "ferrotrack sync" in message
    assert secret not in message
    assert "AKEY" not in message
    backend.stop()
    # and through a run: one warning, no secret anywhere in the logs
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__CLEARML__API_HOST", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__CLEARML__SECRET_KEY", secret)
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "2")
    with (
        caplog.at_level(logging.DEBUG),
        ft.start_run(experiment="exp", backends=["clearml"]) as run,
    ):
        run.log("x", 1.0, step=0)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert secret not in text
    degraded = [r.getMessage() for r in caplog.records if "degraded" in r.getMessage()]
    assert len(degraded) == 1
    assert "cannot reach the ClearML server" in degraded[0]
    assert ft.metrics(runs=run.run_id).collect().height == 1


_ONLINE_SCRIPT = """
import json, os, sys
from pathlib import Path
from clearml.backend_api import Session
from ferrotrack.backends.clearml import ClearmlBackend
from ferrotrack.core.records import RunInfo

def clearml_environ():
    return {k: v for k, v in os.environ.items() if k.startswith(("CLEARML", "TRAINS"))}

before = (clearml_environ(), [Session.default_host, Session.default_key, Session.default_secret])
backend = ClearmlBackend()
backend.initialize({"api_host": sys.argv[1], "access_key": sys.argv[2], "secret_key": sys.argv[3]})
try:
    backend.open_run(RunInfo("e", "r-online", "n", Path(sys.argv[4]), started=0), {})
    error = ""
except OSError as err:
    error = str(err)
backend.stop()
after = (clearml_environ(), [Session.default_host, Session.default_key, Session.default_secret])
print(json.dumps({"error": error, "before": before, "after": after, "environ": dict(os.environ)}))
"""


def test_an_online_task_that_fails_to_start_leaves_no_credentials_behind(
    tmp_path: Path,
) -> None:
    """A real HTTP server on 127.0.0.1 refuses the login (401, quoting the access key):
    ``Task.init`` fails after ``set_credentials`` wrote the keys into os.environ and
    ClearML's ``Session``; the error hides the keys and both are set back. In a fresh
    process: ClearML keeps one session per process, and an earlier offline task's would
    be reused (no login tried)."""
    import http.server
    import json
    import subprocess
    import sys
    import threading

    access, secret = "AKEY-never-shown", "s3cr3t-never-shown"

    class Refuse(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            meta = {"result_code": 401, "result_msg": f"Unauthorized key {access}"}
            body = json.dumps({"meta": meta}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ONLINE_SCRIPT, host, access, secret, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    error = got["error"]
    assert "cannot start a ClearML task for run r-online" in error
    assert "Unauthorized key ***" in error, "the server's reason, keys hidden"
    assert access not in error
    assert secret not in error
    assert got["after"] == got["before"], "ClearML's variables and Session defaults set back"
    assert secret not in json.dumps(got["environ"])
    assert access not in json.dumps(got["environ"])


def test_mapping_of_names_params_and_tags() -> None:
    assert scalar_name("train/loss") == ("train", "loss")
    assert scalar_name("a/b/c") == ("a", "b/c")
    assert scalar_name("loss") == ("loss", "loss")
    assert scalar_name("/x") == ("/x", "/x")
    assert scalar_name("loss", 3) == ("loss", "loss [rank 3]")
    assert flat_params({"lr": 0.1, "m": {"d": 3, "e": {}}, "l": [1, 2]}) == {
        "General/lr": 0.1,
        "General/m/d": 3,
        "General/m/e": "{}",
        "General/l": "[1, 2]",
    }
    assert tags_after(["a:1", "b", "other"], {"a": None, "b": "2", "c": ""}) == [
        "other",
        "b:2",
        "c",
    ]


_finite = st.floats(allow_nan=False, allow_infinity=False, width=64)


@pytest.mark.slow
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(
        st.one_of(_finite, st.sampled_from([math.nan, math.inf, -math.inf])), max_size=60
    )
)
def test_values_round_trip_through_the_session(tmp_path: Path, values: list[float]) -> None:
    import uuid

    folder = tmp_path / uuid.uuid4().hex
    backend = ClearmlBackend()
    backend.initialize({"offline_folder": str(folder)})
    batch = metrics_to_batch(
        [MetricData(name="m/v", value=v, step=i) for i, v in enumerate(values)]
    )
    with backend:
        backend.open_run(RunInfo("e", "r", "n", folder, started=0), {})
        backend.handle_points(batch, 0)
        session_dir = backend.session_folder
    assert session_dir is not None
    got = [(s.iteration, s.value) for s in read_session(session_dir).scalars]
    want = [(i, v) for i, v in enumerate(values) if math.isfinite(v)]
    assert got == want, "finite values exactly, in order; the rest skipped"
    assert backend.skipped_nonfinite == len(values) - len(want)


def test_a_missing_clearml_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from ferrotrack.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "clearml", None)  # import clearml now fails
    backend = ClearmlBackend()
    backend.initialize({})
    with pytest.raises(MissingDependencyError, match=r"pip install ferrotrack-backends\[clearml\]"):
        backend.open_run(RunInfo("e", "r1", "n", tmp_path, started=0), {})
