"""The ``wandb`` backend against the real wandb library in offline mode (and online mode
against a closed port on 127.0.0.1: nothing leaves the machine). What it wrote is read
back with wandb's own reader, ``wandb leet inspect --json`` (wandb-core's reader of the
``.wandb`` files ``wandb sync`` uploads). Each test starts wandb's service process (about
half a second) and checks that none is left when it ends.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import ferrotrack.core as ft
from ferrotrack.backends.wandb import STEP_METRIC, WandbBackend
from ferrotrack.core.delivery.replay import sync_run
from ferrotrack.core.errors import MissingDependencyError
from ferrotrack.core.records import RunInfo

HERE = str(Path(__file__).parent)
if HERE not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, HERE)
from wandb_fixtures import confine_wandb, inspect, wait_no_wandb_core, wandb_children  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def wandb_env(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """wandb confined to the test's folder: offline, silent, no real home, no key; and no
    wandb-core process left at the end."""
    confine_wandb(tmp_path, monkeypatch, tmp_path / "wandb-default")
    yield root
    wait_no_wandb_core("the backend's stop ends wandb's service process")


def wandb_files(run_dir: Path) -> list[Path]:
    """The run's W&B files, oldest first."""
    return sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"), key=lambda p: p.parent.name)


def of(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r[kind] for r in records if r["type"] == kind]


def history_points(records: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    """(name, ferrotrack step, value) of every value in the history rows."""
    out = []
    for row in of(records, "history"):
        item = row["item"]
        for key, value in item.items():
            if not key.startswith("_") and key != STEP_METRIC:
                out.append((key, int(item[STEP_METRIC]), float(value)))
    return out


def config_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's config after every run and config record."""
    config: dict[str, Any] = {}
    for record in records:
        if record["type"] == "run":
            config.update(record["run"].get("config", {}).get("update", {}))
        elif record["type"] == "config":
            config.update(record["config"].get("update", {}))
    config.pop("_wandb", None)
    return config


def summary_of(records: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for update in of(records, "summary"):
        summary.update(update.get("update", {}))
    return summary


def test_a_run_mirrored_and_read_back_with_wandbs_reader(wandb_env: Path) -> None:
    started = time.monotonic()
    with ft.start_run(
        experiment="exp",
        params={"lr": 0.1, "model": {"depth": 3}},
        tags={"team": "a", "gone": "x"},
        backends=["wandb"],
    ) as run:
        for step in range(50):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 50}, step=step)
        for step in (30, 20, 10):  # explicit steps going down: W&B's _step would refuse them
            run.log("eval", float(step), step=step)
        run.log("loss", 9.0, step=49)  # a second value at a step already logged
        run.log_params({"model": {"width": 8}})
        run.set_tags({"gone": None, "stage": "b"})
    elapsed = time.monotonic() - started
    (file,) = wandb_files(run.run_dir)
    records = inspect(file)
    (opened, *_) = of(records, "run")
    assert opened["run_id"] == run.run_id, "the ferrotrack run id is the W&B run id"
    assert opened["project"] == "exp"
    logged = [("loss", s, 1.0 / (s + 1)) for s in range(50)]
    logged += [("acc", s, s / 50) for s in range(50)]
    logged += [("eval", s, float(s)) for s in (30, 20, 10)] + [("loss", 49, 9.0)]
    assert Counter(history_points(records)) == Counter(logged), "every point, at its step"
    steps = [row["item"]["_step"] for row in of(records, "history")]
    assert steps == list(range(len(steps))), "W&B's own _step only counts rows"
    assert config_of(records) == {
        "lr": 0.1,
        "model": {"depth": 3, "width": 8},
        "ferrotrack": {
            "run_id": run.run_id,
            "experiment": "exp",
            "tags": {"team": "a", "stage": "b"},
        },
    }
    assert of(records, "run")[-1]["tags"] == ["stage:b", "team:a"]
    summary = summary_of(records)
    assert summary["loss"] == 9.0, "the last value at the highest step"
    assert summary["eval"] == 30.0
    assert summary["acc"] == 49 / 50
    assert summary["ferrotrack/status"] == "finished"
    assert of(records, "exit")[-1].get("exit_code", 0) == 0
    axis = [m for m in of(records, "metric") if m.get("glob_name") == "*"]
    assert axis[0]["step_metric"] == STEP_METRIC, "every metric is plotted on ferrotrack/step"
    # The row's _timestamp is its points' own time, not the time of delivery.
    frame = ft.metrics(runs=run.run_id).collect()
    stamps = {
        (n, int(s)): t.timestamp()
        for n, s, t in zip(frame["name"], frame["step"], frame["timestamp"], strict=True)
    }
    for row in of(records, "history")[:5]:
        item = row["item"]
        assert item["_timestamp"] == pytest.approx(stamps["acc", item[STEP_METRIC]], abs=1e-5)
    print(f"wandb mirror of 104 points in {elapsed:.2f}s")


@pytest.mark.parametrize(
    ("status", "code"), [("failed", 1), ("killed", 130)], ids=["failed", "killed"]
)
def test_the_final_status_is_the_exit_code(wandb_env: Path, status: str, code: int) -> None:
    run = ft.start_run(experiment="exp", backends=["wandb"])
    run.log("loss", 1.0, step=0)
    run.finish(status)  # type: ignore[arg-type]
    records = inspect(wandb_files(run.run_dir)[0])
    assert of(records, "exit")[-1]["exit_code"] == code
    assert summary_of(records)["ferrotrack/status"] == status
    assert bool(of(records, "preempting")) == (status == "killed")


def test_a_resume_writes_the_same_wandb_run(wandb_env: Path) -> None:
    with ft.start_run(experiment="exp", backends=["wandb"]) as run:
        for step in range(10):
            run.log("loss", float(step), step=step)
    with ft.start_run(
        experiment="exp", run_id=run.run_id, resume=True, backends=["wandb"]
    ) as again:
        again.log("loss", -1.0, step=3)  # a step already past: kept on the ferrotrack axis
        again.log("loss", 10.0, step=10)
    first, second = wandb_files(run.run_dir)
    a, b = inspect(first), inspect(second)
    assert {r["run_id"] for r in of(a, "run") + of(b, "run")} == {run.run_id}, "one W&B run"
    assert of(b, "run")[0].get("resume") is True
    assert [r["item"]["_step"] for r in of(b, "history")] == [10, 11], (
        "W&B's _step goes on from the first file: the files never overlap"
    )
    points = history_points(a) + history_points(b)
    assert Counter(points) == Counter(
        [("loss", s, float(s)) for s in range(10)] + [("loss", 3, -1.0), ("loss", 10, 10.0)]
    )
    state = json.loads((run.run_dir / "sync" / "wandb" / "state.json").read_text())
    assert state["state"]["wandb_run_id"] == run.run_id
    assert state["state"]["wandb_step"] == 12


def test_a_sync_fills_a_run_and_a_second_sync_sends_nothing(wandb_env: Path) -> None:
    with ft.start_run(experiment="exp", params={"a": 1}, tags={"t": "v"}) as run:
        for step in range(300):
            run.log({"x": float(step), "y": -float(step)}, step=step)
    for _ in range(2):
        backend = WandbBackend()
        backend.initialize({})
        with backend:
            report = sync_run(run.run_dir, backend)
        assert report.ok, report.last_error
    first, second = wandb_files(run.run_dir)
    a, b = inspect(first), inspect(second)
    assert Counter(history_points(a)) == Counter(
        [("x", s, float(s)) for s in range(300)] + [("y", s, -float(s)) for s in range(300)]
    )
    assert config_of(a)["a"] == 1
    assert of(a, "run")[0]["tags"] == ["t:v"]
    assert of(a, "exit")[-1].get("exit_code", 0) == 0
    assert history_points(b) == [], "the cursor says everything was sent"
    assert {r["run_id"] for r in of(b, "run")} == {run.run_id}, "the same W&B run"


def test_names_wandb_cannot_take_are_warned_once_and_kept_in_the_store(
    wandb_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="exp", backends=["wandb"]) as run,
    ):
        for step in range(20):
            run.log({"_runtime": 1.0, STEP_METRIC: 2.0, "ok": 3.0}, step=step)
            run.flush()
    records = inspect(wandb_files(run.run_dir)[0])
    assert {n for n, _, _ in history_points(records)} == {"ok"}
    warned = [r.getMessage() for r in caplog.records if "is not mirrored" in r.getMessage()]
    assert len(warned) == 2, warned
    for name, message in zip(sorted(["_runtime", STEP_METRIC]), sorted(warned), strict=True):
        assert "backend 'wandb'" in message
        assert run.run_id in message
        assert repr(name) in message
        assert "rename" in message
    assert ft.metrics(runs=run.run_id).collect().height == 60, "the store keeps every point"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "key",
    ["k3y" + "Zq9" * 13, "not a key"],
    ids=["well-formed key, unreachable server", "malformed key"],
)
def test_a_bad_api_key_online_is_one_clear_warning_without_the_key(
    wandb_env: Path,
    key: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    backend = WandbBackend()
    backend.initialize(
        {
            "mode": "online",
            "api_key": SecretStr(key),
            "base_url": f"http://127.0.0.1:{_closed_port()}",
            "init_timeout": 2.0,
        }
    )
    started = time.monotonic()
    with caplog.at_level(logging.INFO), ft.start_run(experiment="exp", backends=[backend]) as run:
        for step in range(30):
            run.log("loss", float(step), step=step)
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"failed fast ({elapsed:.1f}s)"
    messages = [r.getMessage() for r in caplog.records]
    failing = [m for m in messages if "backend 'wandb'" in m and "wandb.init failed" in m]
    assert len(failing) == 1, messages
    (message,) = failing
    assert run.run_id in message
    assert "offline" in message, "says what to do"
    assert f"ferrotrack sync {run.run_id} --backend wandb" in message
    out, err = capfd.readouterr()
    for text in [*messages, out, err]:
        assert key not in text
    written = [p for p in wandb_env.parent.rglob("*") if p.is_file() and not p.is_symlink()]
    if " " not in key:  # a well-formed key reaches wandb-core, which writes its logs
        assert any("debug" in p.name for p in written), "wandb's own logs are searched too"
    for path in written:  # the run's folder, wandb's debug logs, its cache in the home
        assert key.encode() not in path.read_bytes(), path
    assert ft.metrics(runs=run.run_id).collect().height == 30, "the store keeps every point"


def test_an_unwritable_dir_names_the_backend_the_run_and_the_folder(
    wandb_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = wandb_env.parent / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FERROTRACK_BACKEND_CONFIGS__WANDB__DIR", str(blocker))
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__BACKOFF_INITIAL", "0.01")
    monkeypatch.setenv("FERROTRACK_ORCHESTRATOR__MAX_FAILURES", "2")
    with (
        caplog.at_level(logging.WARNING),
        ft.start_run(experiment="exp", backends=["wandb"]) as run,
    ):
        for step in range(40):
            run.log("x", float(step), step=step)
    messages = [r.getMessage() for r in caplog.records]
    hits = [m for m in messages if "cannot write W&B files in" in m]
    assert len(hits) == 1, messages
    assert "backend 'wandb'" in hits[0]
    assert run.run_id in hits[0]
    assert str(blocker / "wandb") in hits[0]
    assert "backend_configs.wandb.dir" in hits[0]
    assert not list(Path(wandb_env.parent).glob("**/offline-run-*")), "no file went elsewhere"
    assert ft.metrics(runs=run.run_id).collect().height == 40


def test_a_second_rank_offline_is_refused_once_and_a_sync_brings_its_points(
    wandb_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        first = ft.start_run(experiment="exp", backends=["wandb"])
        second = ft.start_run(
            experiment="exp", run_id=first.run_id, rank=1, resume=True, backends=["wandb"]
        )
        for step in range(5):
            first.log("x", float(step), step=step)
            second.log("x", 10.0 + step, step=step)
        second.finish()
        first.finish()
    refused = [r.getMessage() for r in caplog.records if "rank 1" in r.getMessage()]
    assert len(refused) == 1, refused
    assert "backend 'wandb'" in refused[0]
    assert f"ferrotrack sync {first.run_id} --backend wandb" in refused[0]
    backend = WandbBackend()
    backend.initialize({})
    with backend:
        assert sync_run(first.run_dir, backend).ok
    files = wandb_files(first.run_dir)
    assert len(files) == 2, "rank 0's file, then the sync's"
    records = [inspect(f) for f in files]
    assert {r["run_id"] for rs in records for r in of(rs, "run")} == {first.run_id}
    points = history_points(records[0]) + history_points(records[1])
    assert Counter(points) == Counter(
        [("x", s, float(s)) for s in range(5)] + [("x", s, 10.0 + s) for s in range(5)]
    )


def test_several_runs_in_one_process_and_the_users_own_run_is_left_open(
    wandb_env: Path,
) -> None:
    import wandb

    mine = wandb.init(project="mine", mode="offline", dir=str(wandb_env.parent))
    a = ft.start_run(experiment="exp", backends=["wandb"])
    b = ft.start_run(experiment="exp", backends=["wandb"])
    a.log("x", 1.0, step=0)
    b.log("x", 2.0, step=0)
    b.finish()
    a.finish()
    # The service still runs (the user's run is open), yet each mirror's file is whole
    # once its run has finished: the backend waited for wandb-core to write it.
    a_records, b_records = inspect(wandb_files(a.run_dir)[0]), inspect(wandb_files(b.run_dir)[0])
    assert history_points(a_records) == [("x", 0, 1.0)]
    assert history_points(b_records) == [("x", 0, 2.0)]
    assert of(a_records, "exit")
    assert of(b_records, "exit")
    assert wandb_children(), "the mirrors left the service to the user's run"
    mine.log({"still": 1.0})  # the mirrors did not finish or tear down the user's run
    mine.finish()
    wandb.teardown()


def test_without_wandb_installed_the_error_names_the_extra(
    wandb_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # what an environment without it sees
    backend = WandbBackend()
    backend.initialize({})
    info = RunInfo("exp", "r1", "n", wandb_env, started=0)
    with pytest.raises(MissingDependencyError, match=r"pip install ferrotrack-backends\[wandb\]"):
        backend.open_run(info, {})


def test_mode_follows_wandb_mode_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from ferrotrack.backends.wandb import WandbConfig

    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert WandbConfig().resolved_mode() == "offline"
    monkeypatch.setenv("WANDB_MODE", "online")
    assert WandbConfig().resolved_mode() == "online"
    assert WandbConfig(mode="offline").resolved_mode() == "offline"
    assert "api_key" not in repr(WandbConfig(api_key=SecretStr("s3cr3t-key"))).replace(
        "api_key=SecretStr('**********')", ""
    )
    assert "s3cr3t" not in repr(WandbConfig(api_key=SecretStr("s3cr3t-key")))
    assert os.environ["WANDB_MODE"] == "online"


def test_the_docs_example_runs_and_prints_what_it_says(wandb_env: Path) -> None:
    from ferrotrack.core.testing import python_blocks, run_doc_blocks

    page = Path(__file__).resolve().parents[3] / "docs" / "backends" / "wandb.md"
    (block, *_) = python_blocks(page.read_text())
    run_doc_blocks(page, [block], module="docs_wandb")


def test_wandb_ids_stay_distinct_and_within_64_characters() -> None:
    """Ids W&B takes stay as they are; longer ones, or ones with ``.``, get a hash of the
    whole id, so runs sharing 64 characters (or differing by ``.``/``-``) never share one."""
    from ferrotrack.backends.wandb.backend import _wandb_id

    uuid = "0192f0c3a1b27c3e8d4f5a6b7c8d9e0f"
    assert _wandb_id(uuid) == uuid
    assert _wandb_id("a" * 64) == "a" * 64
    long_a, long_b = "p" * 64 + "-a", "p" * 64 + "-b"
    assert _wandb_id(long_a) != _wandb_id(long_b)
    assert len(_wandb_id(long_a)) == 64
    assert _wandb_id(long_a).startswith("p" * 51 + "-")
    assert _wandb_id("run.1") != _wandb_id("run-1") == "run-1"
    assert _wandb_id("x" * 128) == _wandb_id("x" * 128), "stable: a resume finds the same"
    for run_id in ("run.1", "x" * 128, long_a):
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", _wandb_id(run_id))
