"""``ferrotrack import wandb DIR`` on runs the real wandb wrote offline (``wandb.init`` +
``wandb.log``), and on runs the ``wandb`` backend mirrored: every point, params, tags,
status and times come in; importing twice changes nothing. The transaction-log reader is
checked record for record against wandb's own (``wandb leet inspect --json``)."""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.backends.wandb.importer import find_files, read_runs
from ferrotrack.backends.wandb.records import WandbLogError, read_records
from ferrotrack.core.importing import import_runs

HERE = str(Path(__file__).parent)
if HERE not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, HERE)
from wandb_fixtures import confine_wandb, inspect, wait_no_wandb_core  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture
def wandb_env(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """wandb confined to the test's folder (offline, silent, no real home); yields the
    folder wandb runs are written under, and leaves no wandb-core process behind."""
    logs = tmp_path / "wandb-runs"
    logs.mkdir()
    confine_wandb(tmp_path, monkeypatch, logs)
    yield logs
    import wandb

    wandb.teardown()
    wait_no_wandb_core("wandb's service process ended")


def write_wandb_runs(folder: Path) -> dict[str, Any]:
    """Three runs the way people write them: steps implicit and explicit, a custom step
    metric, a text value, a failed run, a run in a second project. Returns what was logged."""
    import wandb

    logged: dict[str, Any] = {}
    run = wandb.init(
        project="vision",
        id="run-a",
        name="resnet",
        config={"lr": 0.01, "model": {"depth": 50, "act": "relu"}},
        tags=["baseline", "team:cv"],
        group="sweep-1",
        job_type="train",
        dir=str(folder),
        reinit="create_new",
    )
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch")
    points = []
    row = 0  # W&B's _step: one per log call
    for i in range(40):
        run.log({"train/loss": 1.0 / (i + 1), "note": f"text {i}"})
        points.append(("train/loss", row, 1.0 / (i + 1)))
        row += 1
        if i % 10 == 9:
            epoch = i // 10
            run.log({"val/acc": 0.5 + epoch / 10, "epoch": epoch})
            points += [("val/acc", epoch, 0.5 + epoch / 10), ("epoch", row, float(epoch))]
            row += 1
    run.log({"train/loss": float("nan")}, step=100)
    points.append(("train/loss", 100, math.nan))
    run.finish(exit_code=0)
    logged["run-a"] = points
    failed = wandb.init(project="vision", id="run-b", dir=str(folder), reinit="create_new")
    failed.log({"loss": 3.0}, step=5)
    failed.finish(exit_code=1)
    logged["run-b"] = [("loss", 5, 3.0)]
    other = wandb.init(project="nlp", id="run-c", dir=str(folder), reinit="create_new")
    other.log({"ppl": 12.5})
    other.finish()
    logged["run-c"] = [("ppl", 0, 12.5)]
    wandb.teardown()  # finish() returns before wandb-core has closed the files; this waits
    return logged


def points_of(table: Any) -> Counter[tuple[str, int, Any]]:
    """(name, step, value) of an Arrow table of points; NaN as the string 'nan'."""
    rows = table.to_pylist() if table is not None else []
    return Counter(
        (r["name"], r["step"], "nan" if math.isnan(r["value"]) else r["value"]) for r in rows
    )


def expected(points: list[tuple[str, int, float]]) -> Counter[tuple[str, int, Any]]:
    return Counter((n, s, "nan" if math.isnan(v) else v) for n, s, v in points)


def test_runs_wandb_wrote_offline_are_imported_whole(wandb_env: Path) -> None:
    logged = write_wandb_runs(wandb_env)
    started = time.monotonic()
    runs = {r.source: r for r in read_runs(wandb_env)}
    elapsed = time.monotonic() - started
    assert set(runs) == {"wandb:vision/run-a", "wandb:vision/run-b", "wandb:nlp/run-c"}
    a = runs["wandb:vision/run-a"]
    assert a.experiment == "vision"
    assert a.name == "resnet"
    assert a.tool == "wandb"
    # The custom axis: val/acc on epoch; train/loss on _step; the text value is left out.
    assert points_of(a.points) == expected(logged["run-a"])
    assert dict(a.params) == {"lr": 0.01, "model": {"depth": 50, "act": "relu"}}
    assert dict(a.tags) == {
        "baseline": "",
        "team": "cv",
        "wandb.run": "vision/run-a",
        "wandb.group": "sweep-1",
        "wandb.job_type": "train",
    }
    assert a.status == "finished"
    assert a.started is not None
    assert a.ended is not None
    assert a.ended >= a.started
    stamps = a.points.column("timestamp").to_pylist()
    assert all(a.started - 10**9 <= t <= a.ended for t in stamps), "each point's row time"
    b = runs["wandb:vision/run-b"]
    assert b.status == "failed"
    assert points_of(b.points) == expected(logged["run-b"])
    c = runs["wandb:nlp/run-c"]
    assert c.experiment == "nlp"
    assert points_of(c.points) == expected(logged["run-c"])
    print(f"read 3 wandb runs in {elapsed * 1000:.0f} ms")

    results = import_runs(runs.values())
    assert [r.created for r in results] == [True, True, True]
    frame = ft.metrics(runs=results[[r.source for r in results].index(a.source)].run_id)
    assert frame.collect().height == len(logged["run-a"])


def test_importing_twice_changes_nothing(wandb_env: Path) -> None:
    write_wandb_runs(wandb_env)
    first = import_runs(read_runs(wandb_env))
    before = {p: p.stat().st_mtime_ns for r in first for p in r.run_dir.rglob("*") if p.is_file()}
    again = import_runs(read_runs(wandb_env))
    assert [r.created for r in again] == [False, False, False]
    assert [r.run_id for r in again] == [r.run_id for r in first]
    after = {p: p.stat().st_mtime_ns for r in again for p in r.run_dir.rglob("*") if p.is_file()}
    assert after == before, "no file written or touched"


def test_the_cli_imports_a_folder(wandb_env: Path, root: Path) -> None:
    from ferrotrack.backends.cli import import_group

    root.mkdir(parents=True, exist_ok=True)  # the CLI writes into an existing store
    logged = write_wandb_runs(wandb_env)
    total = sum(len(v) for v in logged.values())
    runner = CliRunner()
    out = runner.invoke(import_group, ["wandb", str(wandb_env)])
    assert out.exit_code == 0, out.output
    assert f"imported 3 run(s) ({total:,} points) from wandb" in out.output
    out = runner.invoke(import_group, ["wandb", str(wandb_env)])
    assert out.exit_code == 0, out.output
    assert "imported 0 run(s)" in out.output
    assert "3 already imported" in out.output


def test_a_mirrored_run_comes_back_as_it_was(wandb_env: Path, root: Path) -> None:
    with ft.start_run(
        experiment="exp", params={"lr": 0.1, "opt": {"name": "adam"}}, tags={"team": "a"}
    ) as parent:
        parent.log("score", 1.0, step=0)
    with ft.start_run(
        experiment="exp", parent=parent, tags={"fold": "1"}, backends=["wandb"]
    ) as child:
        for step in range(30):
            child.log({"loss": 1.0 / (step + 1)}, step=step)
        for step in (7, 3):
            child.log("late", float(step), step=step)
    with ft.start_run(experiment="exp", run_id=parent.run_id, resume=True, backends=["wandb"]):
        pass  # the parent mirrored too (by its resume), after its child
    runs = list(read_runs(root))
    assert [r.name for r in runs] == [parent.name, child.name], "parents first"
    back_parent, back = runs
    assert back.parent_source == back_parent.source
    assert back.experiment == "exp"
    assert dict(back.tags) == {"fold": "1", "wandb.run": f"exp/{child.run_id}"}
    assert back.status == "finished"
    assert dict(back_parent.params) == {"lr": 0.1, "opt": {"name": "adam"}}
    frame = ft.metrics(runs=child.run_id).collect()
    original = Counter(
        zip(frame["name"].to_list(), frame["step"].to_list(), frame["value"].to_list(), strict=True)
    )
    assert points_of(back.points) == original, "every point, at its own step"
    # A point comes back with its row's time: the latest of the points W&B got in one row.
    times = frame["timestamp"].dt.epoch("ns").to_list()
    keys = zip(frame["name"].to_list(), frame["step"].to_list(), strict=True)
    own = dict(zip(keys, times, strict=True))
    latest: dict[int, int] = {}
    for (_, step), t in own.items():
        latest[step] = max(latest.get(step, 0), t)
    for row in back.points.to_pylist():
        mine = own[row["name"], row["step"]]
        assert mine - 1_000 <= row["timestamp"] <= latest[row["step"]] + 1_000, "W&B keeps us"
    results = import_runs(runs, root=root.parent / "imported")
    assert results[1].created
    meta = json.loads((results[1].run_dir / "run.json").read_text())
    assert meta["parent"] == results[0].run_id


def test_the_reader_matches_wandbs_own_reader(wandb_env: Path) -> None:
    write_wandb_runs(wandb_env)
    for file in find_files(wandb_env):
        theirs = inspect(file)
        mine = list(read_records(file))
        assert [r.WhichOneof("record_type") for r in mine] == [r["type"] for r in theirs]
        mine_rows = [
            {(i.key or ".".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
            for r in mine
            if r.HasField("history")
        ]
        their_rows = [r["history"]["item"] for r in theirs if r["type"] == "history"]
        assert len(mine_rows) == len(their_rows)
        for a, b in zip(mine_rows, their_rows, strict=True):
            assert a.keys() == b.keys()
            for key, value in a.items():
                if isinstance(value, float) and math.isnan(value):
                    assert b[key] == "NaN"
                else:
                    assert b[key] == value, key


def test_a_run_cut_short_is_read_up_to_the_damage_and_imported_as_killed(
    wandb_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_wandb_runs(wandb_env)
    (file,) = [f for f in find_files(wandb_env) if f.name == "run-run-a.wandb"]
    whole = list(read_records(file))
    data = file.read_bytes()
    history = sum(1 for r in whole if r.HasField("history"))
    # A process killed mid-write. A cut that falls exactly between two chunks leaves a
    # shorter but whole file (nothing to warn about): one byte earlier is inside a chunk.
    for cut_at in (len(data) * 2 // 3, len(data) * 2 // 3 - 1):
        caplog.clear()
        file.write_bytes(data[:cut_at])
        cut = list(read_records(file))
        if any("the records before it are read" in r.getMessage() for r in caplog.records):
            break
    else:
        pytest.fail("a file cut inside a chunk was read without a warning")
    assert 0 < len(cut) < len(whole)
    assert [r.SerializeToString() for r in cut] == [
        r.SerializeToString() for r in whole[: len(cut)]
    ]
    (run,) = [r for r in read_runs(wandb_env) if r.source == "wandb:vision/run-a"]
    assert run.status == "killed", "no exit record: the run never ended"
    assert 0 < run.points.num_rows < history * 2
    not_wandb = wandb_env / "offline-run-x" / "run-x.wandb"
    not_wandb.parent.mkdir()
    not_wandb.write_bytes(b"hello, not a W&B file")
    with pytest.raises(WandbLogError, match="bad header"):
        list(read_records(not_wandb))
    assert len(list(read_runs(wandb_env))) == 3, "the bad file is skipped with a warning"


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(["loss", "acc", "a/b", "a.b", "_x", "_step", "ferrotrack/step"]),
                st.integers(-5, 30),
                st.floats(width=64),
            ),
            max_size=40,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_any_points_mirrored_come_back_from_the_file(
    wandb_env: Path, batches: list[list[tuple[str, int, float]]]
) -> None:
    """Batches in any step order, NaN and infinities, names W&B refuses: what the backend
    wrote to the W&B file is read back point for point."""
    from ferrotrack.backends.wandb import WandbBackend
    from ferrotrack.core.plugins.arrow import metrics_to_batch
    from ferrotrack.core.plugins.metric import MetricData
    from ferrotrack.core.records import RunInfo

    folder = wandb_env / f"case-{time.monotonic_ns()}"
    folder.mkdir()
    backend = WandbBackend()
    backend.initialize({})
    backend.open_run(RunInfo("exp", "r1", "n", folder, started=time.time_ns()), {})
    for points in batches:
        data = [MetricData(name=n, value=v, step=s) for n, s, v in points]
        backend.handle_points(metrics_to_batch(data), 0)
    backend.set_status("finished")
    backend.stop()
    (run,) = read_runs(folder)
    sent = [p for points in batches for p in points if p[0] not in ("_step", "ferrotrack/step")]
    assert points_of(run.points) == expected(sent)
    assert run.status == "finished"
