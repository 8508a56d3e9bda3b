"""The pytorch framework with the real torch and tensorboardX writers: a tiny MLP trained on
CPU, its SummaryWriter calls read back from the run's store and from the TensorBoard files."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorboardX
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError, MissingDependencyError, PluginWarning
from ferrotrack.core.plugins.framework import patch_holders
from ferrotrack.frameworks import PytorchFramework
from ferrotrack.frameworks._support import UnsupportedVersionError

WRITERS: list[Any] = [SummaryWriter, tensorboardX.SummaryWriter]
METHODS = ("add_scalar", "add_scalars", "add_hparams", "add_text")
ORIGINALS = {(w, m): vars(w)[m] for w in WRITERS for m in METHODS}


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    """Every test leaves both writers exactly as the libraries define them."""
    yield
    for (writer, method), original in ORIGINALS.items():
        assert vars(writer)[method] is original, f"{writer.__module__}.{method} not restored"
    assert patch_holders(PytorchFramework) == 0


def train(writer: Any, steps: int = 5) -> list[float]:
    """A 2-layer MLP fitting y = 2x on CPU; the loss of each step goes to ``writer``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    optim = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    losses = []
    for step in range(steps):
        optim.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), 2 * x)
        loss.backward()  # type: ignore[no-untyped-call]
        optim.step()
        writer.add_scalar("train/loss", loss, step)  # requires_grad: read without a warning
        losses.append(loss.item())
    return losses


def plugin_warnings(seen: list[warnings.WarningMessage], pattern: str) -> int:
    """How many of the warnings ``seen`` are PluginWarnings; each must match ``pattern``."""
    ours = [str(w.message) for w in seen if issubclass(w.category, PluginWarning)]
    assert all(re.search(pattern, message) for message in ours), ours
    return len(ours)


def points(run_id: str, name: str) -> list[tuple[int, float]]:
    frame = ft.metrics(runs=[run_id], names=[name]).collect().sort("step")
    return list(zip(frame["step"].to_list(), frame["value"].to_list(), strict=True))


def tb_scalars(logdir: Path, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(logdir))
    acc.Reload()
    if tag not in acc.Tags()["scalars"]:
        return []
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def approx(pairs: list[tuple[int, float]]) -> list[tuple[int, Any]]:
    return [(s, pytest.approx(v, rel=1e-6)) for s, v in pairs]


@pytest.mark.parametrize("writer_class", WRITERS, ids=["torch", "tensorboardX"])
def test_training_loop_lands_in_the_run_and_in_tensorboard(
    root: Path, tmp_path: Path, writer_class: Any
) -> None:
    logdir = tmp_path / "tb"
    with ft.start_run("mlp", frameworks=["pytorch"]) as run:
        assert vars(writer_class)["add_scalar"] is not ORIGINALS[writer_class, "add_scalar"]
        writer = writer_class(str(logdir))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            losses = train(writer)
        writer.close()
    expected = list(enumerate(losses))
    assert points(run.run_id, "train/loss") == approx(expected)
    assert tb_scalars(logdir, "train/loss") == approx(expected)  # float32 in the file
    row = ft.runs().row(0, named=True)
    assert row["train/loss.last"] == pytest.approx(losses[-1])
    # what the points are, written off the training thread, complete once the run finished
    assert ft.metric_info(run.run_dir) == {
        "train/loss": {"type": "scalar", "source": "pytorch", "metadata": {}}
    }


@pytest.mark.parametrize("writer_class", WRITERS, ids=["torch", "tensorboardX"])
def test_scalars_hparams_and_text(root: Path, tmp_path: Path, writer_class: Any) -> None:
    logdir = tmp_path / "tb"
    with ft.start_run("groups", frameworks=["pytorch"]) as run:
        writer = writer_class(str(logdir))
        writer.add_scalars("loss", {"train": 0.5, "val": torch.tensor(0.75)}, 3)
        writer.add_hparams({"lr": 0.1, "optim": "adam", "layers": 2}, {"hp/acc": 0.9})
        writer.add_text("note", "first try", 4)
        writer.close()
    assert points(run.run_id, "loss/train") == [(3, 0.5)]
    assert sorted(ft.metric_info(run.run_dir)) == ["hp/acc", "loss/train", "loss/val"]
    assert points(run.run_id, "loss/val") == [(3, 0.75)]
    # each writer's own layout: torch's folder loss_train, tensorboardX's loss/train
    sub = "loss_train" if writer_class is SummaryWriter else "loss/train"
    assert tb_scalars(logdir / sub, "loss") == [(3, 0.5)]
    # the hparams' metric once, although add_hparams calls add_scalar itself
    assert [v for _, v in points(run.run_id, "hp/acc")] == [pytest.approx(0.9)]
    assert json.loads((run.run_dir / "params.json").read_text()) == {
        "lr": 0.1,
        "optim": "adam",
        "layers": 2,
    }
    events = [json.loads(line) for line in (run.run_dir / "events/rank-0.jsonl").open()]
    texts = [e for e in events if e["kind"] == "text"]
    assert [(e["name"], e["message"], e["step"]) for e in texts] == [("note", "first try", 4)]


def test_walltime_is_the_points_time(root: Path, tmp_path: Path) -> None:
    with ft.start_run("walltime", frameworks=["pytorch"]) as run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 1, walltime=1_700_000_000.25)
        writer.close()
    frame = ft.metrics(runs=[run.run_id], names=["x"]).collect()
    (stamp,) = frame["timestamp"].dt.epoch("ns").to_list()
    assert stamp == pytest.approx(1_700_000_000_250_000_000, abs=1_000)  # float seconds


def test_two_runs_in_sequence_each_get_their_own(root: Path, tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path / "tb"))
    with ft.start_run("one", frameworks=["pytorch"]) as first:
        writer.add_scalar("x", 1.0, 0)
    writer.add_scalar("x", 99.0, 1)  # between runs: the library's own method, nothing captured
    with ft.start_run("two", frameworks=["pytorch"]) as second:
        writer.add_scalar("x", 2.0, 0)
    writer.close()
    assert points(first.run_id, "x") == [(0, 1.0)]
    assert points(second.run_id, "x") == [(0, 2.0)]
    assert tb_scalars(tmp_path / "tb", "x") == [(0, 1.0), (1, 99.0), (0, 2.0)]


def test_two_instances_patch_once(root: Path, tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path / "tb"))
    first, second = PytorchFramework(), PytorchFramework()
    with ft.start_run("idempotent") as run:
        first.start()
        patched = vars(SummaryWriter)["add_scalar"]
        second.start()
        assert vars(SummaryWriter)["add_scalar"] is patched
        assert patch_holders(PytorchFramework) == 2
        writer.add_scalar("x", 1.0, 0)
        first.stop()
        assert vars(SummaryWriter)["add_scalar"] is patched  # still held by the second
        writer.add_scalar("x", 2.0, 1)
        second.stop()
        writer.add_scalar("x", 3.0, 2)  # restored: not captured
    writer.close()
    assert points(run.run_id, "x") == [(0, 1.0), (1, 2.0)]  # once per call, not per instance


def test_no_active_run_counts_drops_and_warns_once(root: Path, tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path / "tb"))
    with PytorchFramework() as plugin:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            writer.add_scalar("x", 1.0, 0)
            writer.add_scalar("x", 2.0, 1)
            writer.add_scalars("g", {"a": 1.0}, 0)
        assert plugin_warnings(seen, r"'pytorch'.*add_scalar.*no active run") == 1
        assert plugin.dropped == 3
        assert plugin.get_status()["dropped"] == 3
    writer.close()
    assert tb_scalars(tmp_path / "tb", "x") == [(0, 1.0), (1, 2.0)]  # the files still written
    assert ft.runs().is_empty()


def test_a_non_number_is_skipped_with_one_warning(root: Path, tmp_path: Path) -> None:
    with ft.start_run("bad", frameworks=["pytorch"]) as run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 0)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            writer.add_scalar("x", "0.5", 1)  # TensorBoard parses it; a run wants numbers
            writer.add_scalar("x", "0.5", 2)
        assert plugin_warnings(seen, r"'pytorch'.*'x'.*str.*not a number") == 1
        writer.add_scalar("x", 3.0, 3)
        writer.close()
    assert run.status == "finished"
    assert points(run.run_id, "x") == [(0, 1.0), (3, 3.0)]
    assert tb_scalars(tmp_path / "tb", "x") == [(0, 1.0), (1, 0.5), (2, 0.5), (3, 3.0)]


def test_numpy_values_and_one_element_arrays(root: Path, tmp_path: Path) -> None:
    with ft.start_run("numpy", frameworks=["pytorch"]) as run:
        writer = tensorboardX.SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", np.float32(0.5), 0)
        writer.add_scalar("x", np.array([0.25]), 1)
        writer.close()
    assert points(run.run_id, "x") == [(0, 0.5), (1, 0.25)]


def test_write_tensorboard_false_keeps_the_files_empty(root: Path, tmp_path: Path) -> None:
    plugin = PytorchFramework()
    plugin.initialize({"write_tensorboard": False})
    with ft.start_run("quiet", frameworks=[plugin]) as run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 0)
        with pytest.warns(PluginWarning, match=r"'pytorch'.*'y'.*not a number"):
            writer.add_scalar("y", "nope", 0)  # the library would raise; nothing calls it
        writer.add_text("t", "hello", 0)
        writer.close()
    assert points(run.run_id, "x") == [(0, 1.0)]
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert acc.Tags()["scalars"] == []
    assert acc.Tags()["tensors"] == []


def test_an_unsupported_version_names_the_range(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch, "__version__", "1.13.1")
    with pytest.raises(UnsupportedVersionError, match=r"'pytorch'.*torch 2\.1 to 2\.15\.x"):
        PytorchFramework().start()
    with pytest.warns(PluginWarning, match="pytorch"):
        run = ft.start_run("old-torch", frameworks=["pytorch"])
    with run:
        run.log("x", 1.0, 0)  # the run goes on, without capture
        assert vars(SummaryWriter)["add_scalar"] is ORIGINALS[SummaryWriter, "add_scalar"]
    assert points(run.run_id, "x") == [(0, 1.0)]


def test_a_newer_version_warns_once_and_captures(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch, "__version__", "2.99.0+test")
    with pytest.warns(PluginWarning, match=r"'pytorch'.*torch 2\.99\.0\+test is newer.*2\.15"):
        run = ft.start_run("new-torch", frameworks=["pytorch"])
    with run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 0)
        writer.close()
    assert points(run.run_id, "x") == [(0, 1.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same version: no second warning
        with PytorchFramework():
            pass


def test_a_patch_by_another_tool_is_chained_and_named(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    original = ORIGINALS[SummaryWriter, "add_scalar"]

    @functools.wraps(original)
    def their_add_scalar(self: Any, tag: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(tag)
        return original(self, tag, *args, **kwargs)

    monkeypatch.setattr(SummaryWriter, "add_scalar", their_add_scalar)
    with pytest.warns(
        PluginWarning, match=r"'pytorch'.*add_scalar.*their_add_scalar.*test_pytorch"
    ):
        run = ft.start_run("chained", frameworks=["pytorch"])
    with run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 0)
        writer.close()
        assert vars(SummaryWriter)["add_scalar"] is not their_add_scalar
    assert vars(SummaryWriter)["add_scalar"] is their_add_scalar  # theirs, put back exactly
    assert calls == ["x"]
    assert points(run.run_id, "x") == [(0, 1.0)]
    assert tb_scalars(tmp_path / "tb", "x") == [(0, 1.0)]


def test_no_library_names_the_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("torch", "tensorboard", "tensorboardX"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    reason = PytorchFramework.unavailable_reason()
    assert reason is not None
    assert "ferrotrack-frameworks[pytorch]" in reason
    with pytest.raises(MissingDependencyError, match=r"ferrotrack-frameworks\[tensorboardx\]"):
        PytorchFramework().start()
    monkeypatch.undo()
    assert PytorchFramework.unavailable_reason() is None


def test_importing_the_plugin_imports_no_training_library() -> None:
    code = (
        "import sys, ferrotrack.frameworks as f, ferrotrack.frameworks.pytorch\n"
        "f.PytorchFramework.get_metadata()\n"
        "print(sorted(m for m in ('torch', 'tensorboardX', 'tensorboard') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_an_unknown_option_is_refused_naming_it() -> None:
    with pytest.raises(InvalidArgumentError, match=r"'pytorch'.*write_tensorbord"):
        PytorchFramework().initialize({"write_tensorbord": False})


def test_an_int_or_numpy_walltime_is_seconds(root: Path, tmp_path: Path) -> None:
    with ft.start_run("walltime-int", frameworks=["pytorch"]) as run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 1, walltime=1_700_000_000)  # int(time.time()): seconds
        writer.add_scalar("x", 2.0, 2, walltime=np.float64(1_700_000_001.5))
        writer.add_scalars("g", {"a": 3.0}, 3, walltime=1_700_000_002)
        writer.close()
    frame = ft.metrics(runs=[run.run_id]).collect().sort("step")
    seconds = [ns / 1e9 for ns in frame["timestamp"].dt.epoch("ns").to_list()]
    assert seconds == pytest.approx([1_700_000_000, 1_700_000_001.5, 1_700_000_002], abs=1e-6)
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert [e.wall_time for e in acc.Scalars("x")] == [1_700_000_000, 1_700_000_001.5]


@pytest.mark.parametrize("writer_class", WRITERS, ids=["torch", "tensorboardX"])
def test_bools_are_recorded_as_tensorboard_writes_them(
    root: Path, tmp_path: Path, writer_class: Any
) -> None:
    with ft.start_run("bools", frameworks=["pytorch"]) as run:
        writer = writer_class(str(tmp_path / "tb"))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            writer.add_scalar("done", True, 0)
            writer.add_scalar("done", np.bool_(False), 1)
            writer.add_scalar("done", torch.tensor(True), 2)
        writer.close()
    assert points(run.run_id, "done") == [(0, 1.0), (1, 0.0), (2, 1.0)]
    assert tb_scalars(tmp_path / "tb", "done") == [(0, 1.0), (1, 0.0), (2, 1.0)]


def test_no_global_step_takes_the_runs_next_step(root: Path, tmp_path: Path) -> None:
    with ft.start_run("no-step", frameworks=["pytorch"]) as run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        for value in (1.0, 2.0, 3.0):
            writer.add_scalar("x", value)
        writer.close()
    assert points(run.run_id, "x") == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert tb_scalars(tmp_path / "tb", "x") == [(0, 1.0), (0, 2.0), (0, 3.0)]  # TensorBoard's 0


def test_calls_from_other_threads_land_in_the_run(root: Path, tmp_path: Path) -> None:
    with ft.start_run("threads", frameworks=["pytorch"]) as run:
        writer = SummaryWriter(str(tmp_path / "tb"))

        def log(first: int) -> None:
            for step in range(first, first + 50):
                writer.add_scalar("x", float(step), step)

        threads = [threading.Thread(target=log, args=(first,)) for first in (0, 50, 100, 150)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        writer.close()
    assert points(run.run_id, "x") == [(step, float(step)) for step in range(200)]
    assert ft.metric_info(run.run_dir) == {
        "x": {"type": "scalar", "source": "pytorch", "metadata": {}}
    }


class _Logging(torch.utils.data.Dataset[torch.Tensor]):
    """A dataset whose items log to a SummaryWriter (as some augmentation code does); each
    item also says what the capture did in the worker: its dropped count, its warnings."""

    def __init__(self, writer: Any, plugin: PytorchFramework) -> None:
        self.writer = writer
        self.plugin = plugin

    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> torch.Tensor:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            self.writer.add_scalar("worker/item", float(i), i)
        warned = plugin_warnings(seen, r"'pytorch'.*no active run")
        return torch.tensor([float(i), float(self.plugin.dropped), float(warned)])


def test_a_dataloader_worker_records_nothing_into_the_parents_run(
    root: Path, tmp_path: Path
) -> None:
    plugin = PytorchFramework()
    with ft.start_run("loader", frameworks=[plugin]) as run:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("main/loss", 0.5, 0)
        loader = torch.utils.data.DataLoader(
            _Logging(writer, plugin), batch_size=4, num_workers=1, multiprocessing_context="fork"
        )
        (batch,) = list(loader)
        writer.add_scalar("main/loss", 0.25, 1)
        writer.close()
    # in the worker: each call dropped, one warning in all
    assert batch.tolist() == [[0.0, 1.0, 1.0], [1.0, 2.0, 0.0], [2.0, 3.0, 0.0], [3.0, 4.0, 0.0]]
    assert plugin.dropped == 0  # nothing dropped in the parent
    assert points(run.run_id, "main/loss") == [(0, 0.5), (1, 0.25)]
    assert set(ft.metric_info(run.run_dir)) == {"main/loss"}  # no facts for the child's names


def test_a_forked_child_captures_into_a_run_of_its_own(root: Path, tmp_path: Path) -> None:
    with ft.start_run("parent", frameworks=["pytorch"]) as parent:
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 0)
        pid = os.fork()
        if pid == 0:  # the child: a run of its own; the exit code says whether all went well
            code = 1
            try:
                with ft.start_run("child") as child:
                    writer.add_scalar("x", 2.0, 0)
                code = 0 if child.summary()["x"]["count"] == 1 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        writer.close()
    assert os.waitstatus_to_exitcode(status) == 0
    runs = ft.runs().select("name", "run_id").rows()
    child_id = next(run_id for name, run_id in runs if name == "child")
    assert points(parent.run_id, "x") == [(0, 1.0)]
    assert points(child_id, "x") == [(0, 2.0)]


def test_capture_after_its_run_finished_drops_and_keeps_the_run(root: Path, tmp_path: Path) -> None:
    writer = SummaryWriter(str(tmp_path / "tb"))
    with PytorchFramework() as plugin:
        with ft.start_run("short") as run:
            writer.add_scalar("x", 1.0, 0)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            writer.add_scalar("x", 2.0, 1)
            writer.add_text("t", "late", 1)
        assert plugin_warnings(seen, r"'pytorch'.*no active run") == 1
        assert plugin.dropped == 2
    writer.close()
    assert run.status == "finished"
    assert points(run.run_id, "x") == [(0, 1.0)]
    assert tb_scalars(tmp_path / "tb", "x") == [(0, 1.0), (1, 2.0)]


def test_frameworks_named_in_the_settings(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FERROTRACK_FRAMEWORKS", "pytorch")  # as docs/frameworks/README.md says
    monkeypatch.setenv("FERROTRACK_FRAMEWORK_CONFIGS__PYTORCH__WRITE_TENSORBOARD", "false")
    with ft.start_run("from-settings") as run:
        assert vars(SummaryWriter)["add_scalar"] is not ORIGINALS[SummaryWriter, "add_scalar"]
        writer = SummaryWriter(str(tmp_path / "tb"))
        writer.add_scalar("x", 1.0, 0)
        writer.close()
    assert points(run.run_id, "x") == [(0, 1.0)]
    assert tb_scalars(tmp_path / "tb", "x") == []  # the option from the settings applied
