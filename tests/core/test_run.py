"""The tracking API: start_run, Run, statuses, resume, params, tags, artifacts."""

from __future__ import annotations

import itertools
import json
import math
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.core import errors
from ferrotrack.core._native import read_run


def run_json(run: ft.Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.run_dir / "run.json").read_text())
    return data


def points(run: ft.Run) -> pl.DataFrame:
    return pl.DataFrame(read_run(run.run_dir)).with_columns(pl.col("name").cast(pl.String))


def test_a_run_is_laid_out_as_the_format_says(root: Path) -> None:
    with ft.start_run("baseline", experiment="cifar10", params={"lr": 1e-3}) as run:
        run.log("train/loss", 0.5, step=0)
        run.log({"val/loss": 0.31, "val/acc": 0.91}, step=0)
        run.log_array("grad_norm", np.array([1.0, 2.0]))
    assert run.run_dir == root / "experiment=cifar10" / f"run={run.run_id}"
    meta = run_json(run)
    assert meta["status"] == "finished"
    assert meta["name"] == "baseline"
    assert meta["format_version"] == ft.FORMAT_VERSION
    assert meta["started"] <= meta["ended"] <= time.time_ns()
    assert isinstance(meta["heartbeat"], int)
    assert json.loads((run.run_dir / "params.json").read_text()) == {"lr": 1e-3}
    assert (run.run_dir / "summary.parquet").exists()
    # No ferrotrack code needed to read it back.
    scanned = pl.scan_parquet(root / "**/metrics/*.parquet", hive_partitioning=True).collect()
    assert scanned.height == 5
    assert set(scanned["experiment"]) == {"cifar10"}
    assert set(scanned["run"]) == {run.run_id}


def test_run_ids_sort_by_creation_time(root: Path) -> None:
    ids = []
    for _ in range(5):
        with ft.start_run() as run:
            ids.append(run.run_id)
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert all(len(i) == 32 and i[12] == "7" and i[16] in "89ab" for i in ids)


def test_run_ids_within_one_millisecond_are_strictly_increasing() -> None:
    from ferrotrack.core.store.layout import new_run_id

    ids = [new_run_id() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i[12] == "7" and i[16] in "89ab" for i in ids)
    # Ids made in a row differ early (time or counter, then a random tail), so a short
    # prefix, what people type to name a run, tells them apart.
    assert all(a[:16] != b[:16] for a, b in itertools.pairwise(ids))


def test_an_exception_inside_with_marks_the_run_failed(root: Path) -> None:
    run = ft.start_run("boom")
    run.log("x", 1.0)
    with pytest.raises(ZeroDivisionError), run:
        _ = 1 / 0
    meta = run_json(run)
    assert meta["status"] == "failed"
    assert meta["error"]["type"] == "ZeroDivisionError"
    assert "division by zero" in meta["error"]["message"]
    assert "1 / 0" in meta["error"]["traceback"]
    assert points(run).height == 1


def test_keyboard_interrupt_marks_the_run_killed(root: Path) -> None:
    with pytest.raises(KeyboardInterrupt), ft.start_run() as run:
        raise KeyboardInterrupt
    assert run_json(run)["status"] == "killed"
    assert run_json(run)["signal"] == "SIGINT"


def test_finish_is_idempotent_and_closes_the_run(root: Path) -> None:
    run = ft.start_run()
    run.log("x", 1.0)
    run.finish()
    run.finish("failed")
    assert run_json(run)["status"] == "finished"
    with pytest.raises(errors.RunClosedError):
        run.log("x", 2.0)
    with pytest.raises(errors.RunClosedError):
        run.log_params({"a": 1})
    assert ft.active_run() is None


def test_module_level_calls_act_on_the_active_run(root: Path) -> None:
    with pytest.raises(errors.RunClosedError, match="no active run"):
        ft.log("x", 1.0)
    run = ft.start_run()
    assert ft.active_run() is run
    ft.log("x", 1.0)
    ft.log({"y": 2.0}, step=7)
    ft.log_params({"seed": 1})
    ft.finish()
    assert sorted(points(run)["name"]) == ["x", "y"]
    assert run.params == {"seed": 1}


def test_resume_continues_automatic_steps(root: Path) -> None:
    with ft.start_run("r", params={"a": 1}) as run:
        for _ in range(3):
            run.log("loss", 1.0)
    with pytest.raises(errors.RunExistsError, match="resume=True"):
        ft.start_run(run_id=run.run_id)
    with ft.start_run(run_id=run.run_id, resume=True, params={"b": 2}) as again:
        again.log("loss", 2.0)
    assert points(run)["step"].to_list() == [0, 1, 2, 3]
    assert again.params == {"a": 1, "b": 2}
    assert run_json(run)["name"] == "r"
    with pytest.raises(errors.RunNotFoundError):
        ft.start_run(run_id="0" * 32, resume=True)


def test_log_params_keeps_nesting_and_names_the_bad_key(root: Path) -> None:
    with ft.start_run(params={"optim": {"lr": 0.1, "betas": (0.9, 0.99)}}) as run:
        run.log_params({"optim": {"wd": 1e-4}, "seed": np.int64(3)})
        with pytest.raises(TypeError, match=r"param 'model\.layer'.*object"):
            run.log_params({"model": {"layer": object()}})
        with pytest.raises(TypeError, match=r"param 'x'.*nan"):
            run.log_params({"x": math.nan})
        run.log("kept", 1.0)
    assert json.loads((run.run_dir / "params.json").read_text()) == {
        "optim": {"lr": 0.1, "betas": [0.9, 0.99], "wd": 1e-4},
        "seed": 3,
    }
    assert points(run).height == 1


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text().filter(lambda k: "." not in k), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(st.dictionaries(st.text(min_size=1).filter(lambda k: "." not in k), json_values, max_size=5))
def test_params_round_trip(
    tmp_path_factory: pytest.TempPathFactory, params: dict[str, Any]
) -> None:
    root = tmp_path_factory.mktemp("store")
    with ft.start_run(root=root, params=params) as run:
        pass
    assert json.loads((run.run_dir / "params.json").read_text()) == params


def test_tags_are_strings_in_run_json(root: Path) -> None:
    with ft.start_run(tags={"team": "vision", "gpu": 1}) as run:
        run.set_tags({"stage": "final"})
        assert run.tags == {"team": "vision", "gpu": "1", "stage": "final"}
    assert run_json(run)["tags"] == {"team": "vision", "gpu": "1", "stage": "final"}


def test_artifacts_are_copied_and_cannot_escape(root: Path, tmp_path: Path) -> None:
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    with ft.start_run() as run:
        assert run.log_artifact(model).read_bytes() == b"weights"
        assert run.log_artifact(model, name="ckpt/best.pt").read_bytes() == b"weights"
        for bad in ("../../escape.pt", "/etc/passwd", "ckpt/../../x", "."):
            with pytest.raises(ValueError, match="would leave"):
                run.log_artifact(model, name=bad)
        with pytest.raises(ValueError, match="does not exist"):
            run.log_artifact(tmp_path / "missing")
    assert (run.run_dir / "artifacts/ckpt/best.pt").exists()
    assert not (run.run_dir.parent / "escape.pt").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"experiment": "a/b"}, "experiment 'a/b'"),
        ({"experiment": ""}, "experiment ''"),
        ({"experiment": 3}, "experiment: expected a str"),
        ({"name": 3}, "name: expected a str"),
        ({"run_id": "../x"}, "run_id"),
        ({"parent": "../x"}, "parent '../x'"),
        ({"resume": True}, "needs the run_id"),
        ({"resume": "yes"}, "resume: expected True or False"),
        ({"flush_interval": 0}, "flush_interval"),
        ({"flush_interval": float("nan")}, "flush_interval"),
        ({"durability": "sometimes"}, "every_flush"),
        ({"rank": -1}, "rank: expected an int rank from 0"),
        ({"rank": 2**40}, "rank: expected an int rank from 0"),
        ({"rank": True}, "rank: expected an int rank"),
        ({"rank": "1"}, "rank: expected an int rank"),
        ({"tags": ["a", "b"]}, "tags must be a mapping"),
        ({"tags": {"a": [1]}}, "tag 'a': expected a str, number or bool"),
        ({"tags": {1: "a"}}, "tag names must be non-empty str"),
        ({"params": [("a", 1)]}, "params: expected a mapping"),
        ({"params": {"a": object()}}, "param 'a'"),
        ({"backends": "mlflow"}, "backends: expected a list"),
        ({"collectors": "system"}, "collectors: expected a list"),
        ({"frameworks": "torch"}, "frameworks: expected a list"),
    ],
)
def test_bad_arguments_are_refused_clearly_and_leave_nothing(
    root: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises((errors.InvalidArgumentError, errors.InvalidValueError), match=message):
        ft.start_run(**kwargs)
    assert ft.active_run() is None
    assert list(root.glob("**/run=*")) == []


def test_a_bad_rank_in_the_environment_is_refused(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RANK", "-3")
    with pytest.raises(errors.InvalidArgumentError, match=r"\$RANK: expected an int rank"):
        ft.start_run()
    assert list(root.glob("**/run=*")) == []


def test_a_start_that_fails_after_creating_the_folder_removes_it(root: Path) -> None:
    # A resumed run's folder was not made by the call that failed: it stays.
    with ft.start_run() as first, pytest.raises(errors.RankInUseError):
        ft.start_run(rank=0, run_id=first.run_id, resume=True)
    with pytest.raises(errors.FerrotrackError, match="no-such-backend"):
        ft.start_run(experiment="plugins", backends=["no-such-backend"])
    assert [p.name for p in root.glob("**/run=*")] == [f"run={first.run_id}"]
    assert not (root / "experiment=plugins").exists()
    assert ft.runs()["status"].to_list() == ["finished"]


def test_a_tag_set_to_none_is_deleted_not_stored(root: Path) -> None:
    with ft.start_run(tags={"a": "1", "b": None, "c": 2.5}) as run:
        assert run.tags == {"a": "1", "c": "2.5"}
        run.set_tags({"a": None, "d": np.int64(4)})
        assert run.tags == {"c": "2.5", "d": "4"}
        with pytest.raises(errors.InvalidValueError, match="tag 'x'"):
            run.set_tags({"x": {"nested": 1}})
    with ft.start_run(run_id=run.run_id, resume=True, tags={"c": None}) as again:
        assert again.tags == {"d": "4"}
    assert run_json(run)["tags"] == {"d": "4"}


def test_two_writers_cannot_share_a_rank(root: Path) -> None:
    with ft.start_run() as run:
        with pytest.raises(errors.RankInUseError, match="rank 0"):
            ft.attach_run(run.run_dir, rank=0)
        other = ft.attach_run(run.run_dir)
        assert other.rank == 1
        other.log("from/rank1", 1.0)
        other.finish()
        run.log("from/rank0", 1.0)
    df = points(run)
    assert sorted(df["name"]) == ["from/rank0", "from/rank1"]
    assert (run.run_dir / "summary-1.parquet").exists()


def test_the_root_comes_from_the_environment(root: Path) -> None:
    with ft.start_run() as run:
        pass
    assert run.root == root
    assert run.run_dir.is_relative_to(root)


def test_other_engines_read_the_store_without_ferrotrack(root: Path) -> None:
    import duckdb
    import pyarrow.dataset as ds

    for lr in (0.1, 0.2):
        with ft.start_run(experiment="engines", params={"lr": lr}) as run:
            run.log_array("loss", np.arange(100, dtype=np.float64) * lr)
    files = sorted(str(p) for p in root.glob("**/metrics/*.parquet"))
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=str(root))
    table = dataset.to_table(filter=ds.field("experiment") == "engines")
    assert table.num_rows == 200
    assert set(table.column("run").to_pylist()) == {
        r.name.removeprefix("run=") for r in (root / "experiment=engines").iterdir()
    }
    glob = str(root / "**" / "metrics" / "*.parquet")
    relation = duckdb.sql(
        f"select count(*), sum(value) from read_parquet('{glob}', hive_partitioning = true)"
    )
    assert relation is not None
    ((count, total),) = relation.fetchall()
    assert count == 200
    assert total == pytest.approx(sum(range(100)) * 0.3)


# --- the store is final before the mirrors ----------------------------------------------------


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Polls ``predicate`` until it holds or ``timeout`` passes (a condition, not an order)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def blocking_backend(entered: threading.Event, release: threading.Event) -> Any:
    from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

    class Blocking(BackendPlugin):
        """Holds the first batch until the test releases it."""

        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="blocking", type=PluginType.BACKEND)

        def handle_batch(self, batch: Any) -> None:
            entered.set()
            release.wait(60)

    return Blocking()


def test_the_final_status_is_written_before_a_backend_drains(root: Path) -> None:
    entered, release = threading.Event(), threading.Event()
    run = ft.start_run("mirrored", backends=[blocking_backend(entered, release)])
    run.log("x", 1.0)
    run.flush()
    assert entered.wait(10), "the backend never got the batch"
    finisher = threading.Thread(target=run.finish)
    finisher.start()
    try:
        assert wait_until(lambda: run_json(run)["status"] == "finished")
        assert finisher.is_alive(), "finish() waits for the backend, after the status"
        assert run_json(run)["ended"] is not None
    finally:
        release.set()
        finisher.join(60)
    assert not finisher.is_alive()


@pytest.mark.slow
def test_sigterm_writes_killed_before_a_backend_drains(root: Path) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import threading, time
                import ferrotrack.core as ft
                from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

                class Blocking(BackendPlugin):
                    entered = threading.Event()

                    @classmethod
                    def get_metadata(cls):
                        return PluginMetadata(name="blocking", type=PluginType.BACKEND)

                    def handle_batch(self, batch):
                        self.entered.set()
                        threading.Event().wait()     # never released

                backend = Blocking()
                run = ft.start_run("victim", backends=[backend])
                run.log("x", 1.0)
                run.flush()
                backend.entered.wait()
                print(run.run_dir, flush=True)
                while True:
                    time.sleep(0.05)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        rdir = Path(child.stdout.readline().strip())
        child.send_signal(signal.SIGTERM)

        def status() -> str:
            return str(json.loads((rdir / "run.json").read_text())["status"])

        assert wait_until(lambda: status() == "killed", timeout=20)
        assert child.poll() is None, "the backend still holds the process"
    finally:
        child.kill()
        child.wait()


def test_frameworks_are_started_with_the_run_and_stopped_with_it(root: Path) -> None:
    from ferrotrack.core.plugins import FrameworkPlugin, PluginMetadata, PluginType

    class Target:
        def step(self) -> int:
            return 1

    class Capture(FrameworkPlugin):
        @classmethod
        def get_metadata(cls) -> PluginMetadata:
            return PluginMetadata(name="capture", type=PluginType.FRAMEWORK)

        def install(self) -> None:
            self.patch(Target, "step", lambda _self: 2)

    with ft.start_run(frameworks=[Capture()]):
        assert Target().step() == 2
    assert Target().step() == 1
