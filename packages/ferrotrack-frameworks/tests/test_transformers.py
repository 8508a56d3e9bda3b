"""The transformers framework and FerrotrackCallback with a real Trainer: a tiny BERT built in
the test (never downloaded) trained for 5 steps on CPU, read back from the run's store."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

import ferrotrack.core as ft
from ferrotrack.core.errors import PluginWarning
from ferrotrack.core.plugins.framework import patch_holders
from ferrotrack.frameworks import FerrotrackCallback, TransformersFramework
from ferrotrack.frameworks._support import UnsupportedVersionError
from ferrotrack.frameworks.transformers.callback import json_ready

TRAINER_INIT = vars(Trainer)["__init__"]


@pytest.fixture(autouse=True)
def restored() -> Iterator[None]:
    """Every test leaves ``Trainer.__init__`` exactly as Transformers defines it."""
    yield
    assert vars(Trainer)["__init__"] is TRAINER_INIT
    assert patch_holders(TransformersFramework) == 0


class Tiny(torch.utils.data.Dataset[dict[str, torch.Tensor]]):
    """Eight 4-token sequences with alternating labels."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.tensor([1, 2, 3, 4 + i % 5]), "labels": torch.tensor(i % 2)}


def make_trainer(out: Path, **kwargs: Any) -> Trainer:
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        vocab_size=50,
    )
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=5,
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        per_device_train_batch_size=4,
        save_strategy="no",
        disable_tqdm=True,
    )
    return Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=Tiny(),
        eval_dataset=Tiny(),
        **kwargs,
    )


def ours(trainer: Trainer) -> list[FerrotrackCallback]:
    return [cb for cb in trainer.callback_handler.callbacks if isinstance(cb, FerrotrackCallback)]


def points(run_id: str, name: str) -> list[tuple[Any, Any]]:
    frame = ft.metrics(runs=[run_id], names=[name]).collect().sort("step")
    return list(zip(frame["step"].to_list(), frame["value"].to_list(), strict=True))


def events(run: ft.Run, kind: str) -> list[dict[str, Any]]:
    path = run.run_dir / "events/rank-0.jsonl"
    found = [json.loads(line) for line in path.open()] if path.exists() else []
    return [e for e in found if e["kind"] == kind]


def plugin_warnings(seen: list[warnings.WarningMessage], pattern: str) -> int:
    messages = [str(w.message) for w in seen if issubclass(w.category, PluginWarning)]
    assert all(re.search(pattern, m) for m in messages), messages
    return len(messages)


def test_callback_by_hand_logs_arguments_config_logs_and_final_metrics(
    root: Path, tmp_path: Path
) -> None:
    with ft.start_run("bert") as run:
        trainer = make_trainer(tmp_path / "out", callbacks=[FerrotrackCallback()])
        trainer.train()
        trainer.evaluate()
    history = trainer.state.log_history
    losses = [(h["step"], h["loss"]) for h in history if "loss" in h]
    assert [s for s, _ in losses] == [1, 2, 3, 4, 5]
    assert points(run.run_id, "loss") == [(s, pytest.approx(v)) for s, v in losses]
    assert [s for s, _ in points(run.run_id, "learning_rate")] == [1, 2, 3, 4, 5]
    (runtime,) = [h["train_runtime"] for h in history if "train_runtime" in h]
    assert points(run.run_id, "train_runtime") == [(5, pytest.approx(runtime))]
    (eval_loss,) = [h["eval_loss"] for h in history if "eval_loss" in h]
    assert points(run.run_id, "eval_loss") == [(5, pytest.approx(eval_loss))]  # once
    params = json.loads((run.run_dir / "params.json").read_text())
    assert params["max_steps"] == 5
    assert params["logging_steps"] == 1
    assert params["hub_token"] == "<HUB_TOKEN>"  # to_dict() hides tokens
    assert params["model"]["hidden_size"] == 8
    assert params["model"]["num_attention_heads"] == 2
    (end,) = events(run, "train_end")
    assert end["step"] == 5
    assert end["data"]["global_step"] == 5
    assert ft.runs().height == 1  # the callback used the active run, started none
    info = ft.metric_info(run.run_dir)
    assert {"loss", "learning_rate", "train_runtime", "eval_loss"} <= set(info)
    assert info["loss"] == {"type": "scalar", "source": "transformers", "metadata": {}}


def test_callback_without_a_run_starts_its_own(root: Path, tmp_path: Path) -> None:
    callback = FerrotrackCallback(experiment="hf")
    trainer = make_trainer(tmp_path / "bert-out", callbacks=[callback])
    trainer.train()
    own = callback.owned_run
    assert own is not None
    assert ft.active_run() is own
    trainer.evaluate()  # after training: still lands in the callback's run
    callback.finish()
    assert own.status == "finished"
    assert ft.active_run() is None
    runs = ft.runs(experiment="hf")
    assert runs["name"].to_list() == ["bert-out"]
    assert len(points(own.run_id, "loss")) == 5
    assert len(points(own.run_id, "eval_loss")) == 1


def test_a_second_training_gets_a_fresh_run(root: Path, tmp_path: Path) -> None:
    callback = FerrotrackCallback(run_name="twice")
    trainer = make_trainer(tmp_path / "out", callbacks=[callback])
    trainer.train()
    first = callback.owned_run
    trainer.train()
    second = callback.owned_run
    callback.finish()
    assert first is not None
    assert second is not None
    assert first is not second
    assert (first.status, second.status) == ("finished", "finished")
    assert len(points(first.run_id, "loss")) == len(points(second.run_id, "loss")) == 5
    assert ft.runs()["name"].to_list() == ["twice", "twice"]


def test_callback_without_a_run_and_start_run_false_drops(root: Path, tmp_path: Path) -> None:
    callback = FerrotrackCallback(start_run=False)
    trainer = make_trainer(tmp_path / "out", callbacks=[callback])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        trainer.train()
    assert plugin_warnings(seen, r"'transformers'.*no active run") == 1
    assert callback.dropped == 1 + 6 + 1  # train begin, 5 step logs + final metrics, train end
    assert ft.runs().is_empty()


def test_strings_in_the_logs_are_skipped_with_one_warning(root: Path, tmp_path: Path) -> None:
    with ft.start_run("strings") as run:
        trainer = make_trainer(tmp_path / "out", callbacks=[FerrotrackCallback()])
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            for logs in ({"phase": "warmup", "custom": 2.5}, {"phase": "main", "custom": 3.5}):
                trainer.log(logs)  # type: ignore[arg-type]
    assert plugin_warnings(seen, r"'transformers'.*'phase'.*str.*not a number") == 1
    assert points(run.run_id, "custom") == [(0, 2.5), (0, 3.5)]
    assert points(run.run_id, "phase") == []


def test_a_callback_given_a_finished_run_warns_once(root: Path, tmp_path: Path) -> None:
    with ft.start_run("short") as run:
        run.log("x", 1.0, 0)
    trainer = make_trainer(tmp_path / "out", callbacks=[FerrotrackCallback(run)])
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        trainer.train()  # training is not disturbed
    assert plugin_warnings(seen, r"'transformers'.*run is finished") == 1
    assert trainer.state.global_step == 5
    assert points(run.run_id, "x") == [(0, 1.0)]  # what it held is intact
    assert points(run.run_id, "loss") == []


def test_without_accelerate_the_plugin_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TransformersFramework.unavailable_reason() is None
    monkeypatch.setitem(sys.modules, "accelerate", None)  # as if not installed
    reason = TransformersFramework.unavailable_reason()
    assert reason is not None
    assert "accelerate" in reason
    assert "ferrotrack-frameworks[transformers]" in reason


def test_importing_the_plugin_imports_no_training_library() -> None:
    code = (
        "import sys, ferrotrack.frameworks.transformers as t\n"
        "t.TransformersFramework.get_metadata(), t.TransformersFramework.unavailable_reason()\n"
        "print(sorted(m for m in ('torch', 'transformers', 'accelerate') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_only_the_main_process_logs(root: Path, tmp_path: Path) -> None:
    callback = FerrotrackCallback()
    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    state = TrainerState(is_world_process_zero=False, global_step=3)
    with ft.start_run("rank1") as run:
        callback.on_train_begin(args, state, TrainerControl())
        callback.on_log(args, state, TrainerControl(), logs={"loss": 0.5})
        callback.on_train_end(args, state, TrainerControl())
    assert points(run.run_id, "loss") == []
    assert json.loads((run.run_dir / "params.json").read_text()) == {}
    assert events(run, "train_end") == []


def test_the_framework_gives_each_trainer_the_callback(root: Path, tmp_path: Path) -> None:
    with ft.start_run("auto", frameworks=["transformers"]) as run:
        assert vars(Trainer)["__init__"] is not TRAINER_INIT
        trainer = make_trainer(tmp_path / "a")
        assert len(ours(trainer)) == 1
        assert not ours(trainer)[0].start_run
        own = FerrotrackCallback()
        by_hand = make_trainer(tmp_path / "b", callbacks=[own])
        assert ours(by_hand) == [own]  # not a second one
        trainer.train()
    assert len(points(run.run_id, "loss")) == 5
    assert json.loads((run.run_dir / "params.json").read_text())["model"]["hidden_size"] == 8
    assert ours(make_trainer(tmp_path / "c")) == []  # restored: no callback after the run


def test_two_runs_in_sequence_and_two_instances(root: Path, tmp_path: Path) -> None:
    with ft.start_run("first", frameworks=["transformers"]) as first:
        make_trainer(tmp_path / "a").train()
    second_plugin = TransformersFramework()
    with ft.start_run("second", frameworks=["transformers", second_plugin]) as second:
        assert patch_holders(TransformersFramework) == 2
        trainer = make_trainer(tmp_path / "b")
        assert len(ours(trainer)) == 1  # patched once although two instances hold it
        trainer.train()
    assert len(points(first.run_id, "loss")) == 5
    assert len(points(second.run_id, "loss")) == 5


def test_no_active_run_counts_in_the_plugin(root: Path, tmp_path: Path) -> None:
    with TransformersFramework() as plugin:
        trainer = make_trainer(tmp_path / "out")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            trainer.train()
        assert plugin_warnings(seen, r"'transformers'.*no active run") == 1
        assert plugin.dropped == 8
        assert plugin.get_status()["dropped"] == 8
    assert ft.runs().is_empty()


def test_an_unsupported_version_names_the_range(root: Path, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        # transformers replaces its sys.modules entry as submodules load: patch the current one
        patch.setattr(sys.modules["transformers"], "__version__", "4.30.2")
        with pytest.raises(UnsupportedVersionError, match=r"'transformers'.*4\.40 to 5\.x"):
            TransformersFramework().start()
        with pytest.raises(UnsupportedVersionError, match=r"4\.40 to 5\.x"):
            FerrotrackCallback()
        with pytest.warns(PluginWarning, match="transformers"):
            run = ft.start_run("old", frameworks=["transformers"])
    with run:
        run.log("x", 1.0, 0)  # the run goes on without the callback
        assert ours(make_trainer(tmp_path / "out")) == []
    assert points(run.run_id, "x") == [(0, 1.0)]


def test_a_patched_trainer_init_is_chained_and_named(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []

    @functools.wraps(TRAINER_INIT)
    def their_init(self: Trainer, *args: Any, **kwargs: Any) -> None:
        made.append(type(self).__name__)
        TRAINER_INIT(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "__init__", their_init)
    with pytest.warns(PluginWarning, match=r"'transformers'.*Trainer\.__init__.*their_init"):
        run = ft.start_run("chained", frameworks=["transformers"])
    with run:
        trainer = make_trainer(tmp_path / "out")
        assert made == ["Trainer"]
        assert len(ours(trainer)) == 1
    assert vars(Trainer)["__init__"] is their_init  # theirs, put back exactly


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(json_values)
def test_json_ready_gives_json_and_is_idempotent(value: Any) -> None:
    ready = json_ready(value)
    assert json.loads(json.dumps(ready, allow_nan=False)) == ready
    assert json_ready(ready) == ready


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=10,
    )
)
def test_json_ready_keeps_json_values_as_they_are(value: Any) -> None:
    assert json_ready(value) == value


def test_a_run_started_after_the_callbacks_own_gets_the_next_training(
    root: Path, tmp_path: Path
) -> None:
    callback = FerrotrackCallback(run_name="own")
    trainer = make_trainer(tmp_path / "out", callbacks=[callback])
    trainer.train()
    own = callback.owned_run
    assert own is not None
    with ft.start_run("mine") as mine:  # the user's run: the next training belongs there
        trainer.train()
        assert callback.owned_run is None
    assert own.status == "finished"
    assert len(points(own.run_id, "loss")) == 5
    assert len(points(mine.run_id, "loss")) == 5
    assert sorted(ft.runs()["name"].to_list()) == ["mine", "own"]  # no third run


def test_the_callbacks_own_run_is_finished_at_exit(root: Path, tmp_path: Path) -> None:
    code = (
        "import gc, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_transformers import make_trainer\n"
        "from ferrotrack.frameworks import FerrotrackCallback\n"
        "trainer = make_trainer(sys.argv[2], callbacks=[FerrotrackCallback(run_name='bye')])\n"
        "trainer.train()\n"
        "del trainer\n"
        "gc.collect()\n"  # the Trainer and its callback gone; the run is still open
    )
    here = str(Path(__file__).parent)
    subprocess.run(
        [sys.executable, "-c", code, here, str(tmp_path / "out")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    runs = ft.runs()
    assert runs["name"].to_list() == ["bye"]
    assert runs["status"].to_list() == ["finished"]
    assert len(points(runs["run_id"][0], "loss")) == 5
