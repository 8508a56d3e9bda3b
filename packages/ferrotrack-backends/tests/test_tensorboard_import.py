"""``ferrotrack import tensorboard``: logdirs written by the real tensorboardX library and
by ferrotrack's own mirror, read natively and imported with every point, the params,
tags, status and times; importing twice creates nothing; damage is warned about with the
file and the offset, and the good records are kept."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import polars as pl
import pytest

import ferrotrack.core as ft
from ferrotrack.backends.tensorboard.importer import TensorboardImportWarning, read_runs
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.importing import import_runs

HERE = str(Path(__file__).parent)
if HERE not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, HERE)
from tensorboard_fixtures import (  # noqa: E402
    WALL_NS,
    as_float32,
    ea_scalars,
    ea_tensor_scalars,
    same_value,
    wall_error_ns,
)

T0 = 1_750_000_000.0
STEPS = 400


def write_with_tensorboardx(logdir: Path) -> None:
    """Scalars as ``simple_value`` (tensorboardX's ``add_scalar``) and as float tensors of
    the scalars plugin (TensorBoard's own ``scalar_pb``, what TF2 writes), NaN and
    infinities, a unicode tag, text and ``add_hparams`` (which writes a subfolder run)."""
    from tensorboard.plugins.scalar.summary_v2 import scalar_pb
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.summary_pb2 import Summary

    writer = SummaryWriter(str(logdir))
    tensors = writer._get_file_writer()
    for step in range(STEPS):
        wall = T0 + step * 0.25
        loss = math.nan if step == 7 else 1.0 / (step + 1)
        writer.add_scalar("train/loss", loss, step, walltime=wall)
        writer.add_scalar("ünï/cödé ✓", math.inf if step == 9 else step * 0.5, step, walltime=wall)
        pb = Summary.FromString(scalar_pb("eval/acc", step / STEPS).SerializeToString())
        tensors.add_summary(pb, step, walltime=wall + 0.1)
    writer.add_text("notes", "hello", 0, walltime=T0)
    writer.add_hparams(
        {"lr": 0.01, "batch": 32, "optim": "adam", "amp": True},
        {"hparam/final_loss": 0.125},
        name="hp",
    )
    writer.close()


def imported(run_id: str) -> dict[str, list[tuple[int, float, int]]]:
    frame = ft.metrics(runs=run_id).collect()
    frame = frame.with_columns(pl.col("name").cast(pl.String), pl.col("timestamp").cast(pl.Int64))
    out: dict[str, list[tuple[int, float, int]]] = {}
    for name, step, ns, v in frame.select("name", "step", "timestamp", "value").rows():
        out.setdefault(name, []).append((step, v, ns))
    return {k: sorted(v, key=lambda p: p[0]) for k, v in out.items()}


def check_points(
    got: dict[str, list[tuple[int, float, int]]],
    want: dict[str, list[tuple[int, float, float]]],
) -> None:
    assert sorted(got) == sorted(want)
    for tag, points in want.items():
        mine = got[tag]
        assert [s for s, _, _ in mine] == [s for s, _, _ in points], tag
        assert all(same_value(a, b) for (_, a, _), (_, b, _) in zip(mine, points, strict=True))
        assert max(
            wall_error_ns(w, ns) for (_, _, ns), (_, _, w) in zip(mine, points, strict=True)
        ) <= (WALL_NS)


def test_a_tensorboardx_logdir_is_imported_whole_and_twice_changes_nothing(root: Path) -> None:
    logdir = root.parent / "tbx-logs"
    write_with_tensorboardx(logdir)
    runs = list(read_runs(logdir))
    assert next(r.name for r in runs) == "tbx-logs"
    main, child = runs[0], next(r for r in runs if r.params)
    assert main.source == f"tensorboard:{logdir.resolve()}"
    assert child.parent_source == main.source, "add_hparams' subfolder is a child run"
    assert child.params == {"lr": 0.01, "batch": 32.0, "optim": "adam", "amp": True}
    assert main.experiment == "tbx-logs"
    assert main.status == "finished"
    assert main.started is not None
    assert abs(main.started - int(T0 * 1e9)) <= WALL_NS
    results = import_runs(runs)
    assert all(r.created for r in results)
    by_source = {r.source: r for r in results}
    want = ea_scalars(logdir) | ea_tensor_scalars(logdir)
    assert sorted(want)[:2] == ["eval/acc", "train/loss"]
    assert sorted(want)[2].startswith("ünï/cödé"), "tensorboardX cleans the tag its own way"
    check_points(imported(by_source[main.source].run_id), want)
    child_id = by_source[child.source].run_id
    assert [p[:2] for p in imported(child_id)["hparam/final_loss"]] == [(0, 0.125)]
    frame = ft.runs(experiment="tbx-logs")
    row = frame.filter(pl.col("run_id") == child_id).row(0, named=True)
    assert row["parent"] == by_source[main.source].run_id
    again = import_runs(read_runs(logdir))
    assert [r.created for r in again] == [False] * len(runs)
    assert ft.runs(experiment="tbx-logs").height == len(runs)
    assert ft.metrics(experiment="tbx-logs").collect().height == 3 * STEPS + 1


def test_a_mirrored_run_comes_back_with_params_tags_status_and_times(root: Path) -> None:
    params = {"lr": 0.5, "model": {"depth": 4, "name": "mlp"}}
    with ft.start_run(
        "orig", experiment="src", params=params, tags={"team": "a"}, backends=["tensorboard"]
    ) as run:
        for step in range(300):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 300}, step=step)
        run.log_params({"seed": 7})
        run.set_tags({"stage": "b"})
    logdir = run.run_dir / "tensorboard"
    (got,) = read_runs(logdir, experiment="imported")
    assert got.params == {"lr": 0.5, "model": {"depth": 4.0, "name": "mlp"}, "seed": 7}
    assert got.tags == {"team": "a", "stage": "b"}
    assert got.status == "finished"
    meta = ft.runs(experiment="src").row(0, named=True)
    assert got.started is not None
    assert got.ended is not None
    started = int(meta["started"].timestamp() * 1e9)
    assert abs(got.started - started) < 10**9, "the first event: the mirror's opening"
    assert got.ended >= got.started
    (result,) = import_runs([got])
    assert result.experiment == "imported"
    assert result.points == 600
    back = imported(result.run_id)
    assert [v for _, v, _ in back["acc"]] == [as_float32(s / 300) for s in range(300)]


@pytest.mark.parametrize("hparams", [True, False])
def test_a_crashed_run_comes_back_failed(tmp_path: Path, hparams: bool) -> None:
    """``crashed`` is no status an import takes: it comes back ``failed``, from the status
    text or the HParams session end alike."""
    from ferrotrack.backends.tensorboard import TensorboardBackend
    from ferrotrack.core.records import RunInfo

    backend = TensorboardBackend()
    backend.initialize({"logdir": str(tmp_path / "tb"), "hparams": hparams})
    with backend:
        backend.open_run(RunInfo("e", "c" * 32, "n", tmp_path, started=10**18, params={"a": 1}), {})
        backend.set_status("crashed")
    (got,) = read_runs(tmp_path / "tb", experiment="imported")
    assert got.status == "failed"
    assert got.params == {"a": 1}, "the session start or, without one, the params text"


def test_a_damaged_file_warns_with_the_file_and_offset_and_keeps_the_rest(root: Path) -> None:
    from tensorboardX import SummaryWriter

    logdir = root.parent / "damaged"
    writer = SummaryWriter(str(logdir))
    for step in range(100):
        writer.add_scalar("x", float(step), step, walltime=T0 + step)
    writer.close()
    (path,) = logdir.glob("events.out.tfevents.*")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] ^= 0xFF
    path.write_bytes(bytes(data[:-5]))  # and a torn last record
    with pytest.warns(TensorboardImportWarning) as caught:
        (run,) = read_runs(logdir)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2
    assert all(str(path) in m and "at byte" in m for m in messages)
    steps = run.points.column("step").to_pylist()
    assert len(steps) == 98, "one corrupt record and the torn last one are skipped"
    assert steps[:10] == list(range(10))
    assert steps[-1] == 98


def test_a_path_that_is_not_a_folder_is_refused(root: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="is not a folder"):
        list(read_runs(root.parent / "missing"))
