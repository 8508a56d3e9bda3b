"""FerrotrackLogger with a real Lightning Trainer on CPU: metrics, hyperparameters,
checkpoints (artifacts and events), the run's status, and a logger used after its run."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning_models import TinyModel, loader, trainer

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidArgumentError, PluginWarning
from ferrotrack.core.plugins.metric_info import metric_info
from ferrotrack.frameworks.lightning import FerrotrackLogger


def names_and_steps(run_id: str) -> dict[str, list[int]]:
    frame = ft.metrics(runs=[run_id]).collect().sort("step")
    out: dict[str, list[int]] = {}
    for name, step in zip(frame["name"].to_list(), frame["step"].to_list(), strict=True):
        out.setdefault(name, []).append(step)
    return out


def run_json(run_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run_dir / "run.json").read_text())
    return data


def test_metrics_and_hyperparams_land_in_a_run_the_logger_starts_and_finishes(
    root: Path,
) -> None:
    logger = FerrotrackLogger("lit", run_name="tiny", params={"seed": 7}, tags={"who": "test"})
    trainer(logger, epochs=2).fit(TinyModel(lr=0.05, hidden=5), loader(), loader(2, seed=1))
    run = logger.experiment
    assert isinstance(run, ft.Run)
    assert logger.version == run.run_id
    assert logger.name == "lit"
    meta = run_json(run.run_dir)
    assert meta["status"] == "finished"
    assert meta["name"] == "tiny"
    assert meta["tags"] == {"who": "test"}
    assert run.params == {"seed": 7, "lr": 0.05, "hidden": 5, "note": "tiny"}
    steps = names_and_steps(run.run_id)
    assert steps["train/loss"] == list(range(10))  # 2 epochs of 5 steps, every step
    assert steps["train/twice"] == list(range(10))
    assert "train/hidden" not in steps  # logger=False stays out
    assert len(steps["val/loss"]) == 2  # one per epoch, reduced by Lightning
    assert len(steps["epoch"]) >= 2
    assert metric_info(run.run_dir)["train/loss"]["source"] == "lightning"


def test_an_active_run_is_used_and_left_open(root: Path) -> None:
    with ft.start_run("mine", experiment="lit") as run:
        logger = FerrotrackLogger()
        trainer(logger).fit(TinyModel(), loader())
        assert logger.experiment is run
        assert run.status == "running"  # finalize left the user's run alone
        run.log("after", 1.0)
    assert run_json(run.run_dir)["status"] == "finished"
    assert len(names_and_steps(run.run_id)["train/loss"]) == 5


def test_checkpoints_become_artifacts_and_events(root: Path, tmp_path: Path) -> None:
    logger = FerrotrackLogger(log_checkpoints="all")
    callback = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    trainer(logger, epochs=2, enable_checkpointing=True, callbacks=[callback]).fit(
        TinyModel(), loader()
    )
    run = logger.experiment
    saved = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert saved == ["epoch=0-step=5.ckpt", "epoch=1-step=10.ckpt"]
    copies = sorted(p.name for p in (run.run_dir / "artifacts" / "checkpoints").iterdir())
    assert copies == saved
    events = ft.events(run_id=run.run_id, kind="checkpoint")
    assert events["name"].to_list() == saved
    assert events["step"].to_list() == [5, 10]
    data = [json.loads(d) for d in events["data"].to_list()]
    assert [d["artifact"] for d in data] == [f"checkpoints/{n}" for n in saved]


def test_last_copies_only_the_newest_checkpoint_when_training_ends(
    root: Path, tmp_path: Path
) -> None:
    logger = FerrotrackLogger()  # log_checkpoints="last" by default
    callback = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    trainer(logger, epochs=2, enable_checkpointing=True, callbacks=[callback]).fit(
        TinyModel(), loader()
    )
    run = logger.experiment
    copies = [p.name for p in (run.run_dir / "artifacts" / "checkpoints").iterdir()]
    assert copies == ["epoch=1-step=10.ckpt"]
    assert len(ft.events(run_id=run.run_id, kind="checkpoint")) == 2


def test_no_checkpoint_copies_with_false(root: Path, tmp_path: Path) -> None:
    logger = FerrotrackLogger(log_checkpoints=False)
    callback = ModelCheckpoint(dirpath=tmp_path / "ckpt")
    trainer(logger, enable_checkpointing=True, callbacks=[callback]).fit(TinyModel(), loader())
    run = logger.experiment
    assert not (run.run_dir / "artifacts").exists()
    assert len(ft.events(run_id=run.run_id, kind="checkpoint")) == 1


def test_a_failing_fit_finishes_the_run_as_failed_with_the_error(root: Path) -> None:
    class Broken(TinyModel):
        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            if batch_idx == 3:
                raise ValueError("boom at 3")
            return super().training_step(batch, batch_idx)

    logger = FerrotrackLogger()
    with pytest.raises(ValueError, match="boom at 3"):
        trainer(logger).fit(Broken(), loader())
    run = logger.experiment
    meta = run_json(run.run_dir)
    assert meta["status"] == "failed"
    assert "boom at 3" in json.dumps(meta["error"])
    assert names_and_steps(run.run_id)["train/loss"] == [0, 1, 2]  # kept


def test_test_after_fit_resumes_the_loggers_own_run(root: Path) -> None:
    logger = FerrotrackLogger()
    model = TinyModel()

    class Tested(TinyModel):
        def test_step(self, batch: object, batch_idx: int) -> None:
            self.log("test/x", 1.0)

    model = Tested()
    fit = trainer(logger)
    fit.fit(model, loader())
    first = logger.experiment
    assert run_json(first.run_dir)["status"] == "finished"
    fit.test(model, loader(2))
    assert logger.version == first.run_id
    assert run_json(first.run_dir)["status"] == "finished"
    steps = names_and_steps(first.run_id)
    assert len(steps["train/loss"]) == 5
    assert "test/x" in steps


def test_a_logger_whose_borrowed_run_finished_warns_once_and_keeps_what_it_had(
    root: Path,
) -> None:
    with ft.start_run("borrowed") as run:
        logger = FerrotrackLogger()
        logger.log_metrics({"a": 1.0}, step=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.log_metrics({"a": 2.0}, step=1)
        logger.log_metrics({"a": 3.0, "b": 4.0}, step=2)
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(messages) == 1
    assert "framework 'lightning'" in messages[0]
    assert run.run_id in messages[0]
    assert "FerrotrackLogger" in messages[0]
    assert logger.dropped == 3
    assert names_and_steps(run.run_id) == {"a": [0]}


def test_non_numbers_are_warned_about_once_per_name_and_the_rest_logged(root: Path) -> None:
    logger = FerrotrackLogger()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            logger.log_metrics({"ok": float(step), "text": "high", "int": step}, step=step)
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(messages) == 1
    assert "'text'" in messages[0]
    assert "str" in messages[0]
    logger.finalize("success")
    steps = names_and_steps(logger.version)
    assert steps == {"ok": [0, 1, 2], "int": [0, 1, 2]}


def test_hyperparams_from_a_namespace_nested_and_odd_values(root: Path) -> None:
    from argparse import Namespace

    logger = FerrotrackLogger()
    logger.log_hyperparams(
        Namespace(optim={"lr": 0.1, "betas": (0.9, 0.99)}, data=Path("/d"), bad=float("nan"))
    )
    assert logger.experiment.params == {
        "optim": {"lr": 0.1, "betas": [0.9, 0.99]},
        "data": "/d",
        "bad": "nan",
    }
    logger.finalize("success")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"log_checkpoints": "best"}, "log_checkpoints"),
        ({"per_rank": "yes"}, "per_rank"),
        ({"experiment": ""}, "experiment"),
        ({"tags": ["a"]}, "tags"),
    ],
)
def test_bad_options_are_refused_naming_the_option(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"invalid option {field}"):
        FerrotrackLogger(**options)  # type: ignore[arg-type]


def test_a_name_the_store_refuses_is_warned_about_once_and_the_rest_logged(root: Path) -> None:
    logger = FerrotrackLogger()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(3):
            logger.log_metrics({"": 1.0, "fine": float(step)}, step=step)
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(messages) == 1
    assert "metric '' refused" in messages[0]
    assert "must not be empty" in messages[0]
    logger.finalize("success")
    assert names_and_steps(logger.version) == {"fine": [0, 1, 2]}


def test_a_checkpoint_gone_before_the_end_warns_once_and_the_run_finishes(
    root: Path, tmp_path: Path
) -> None:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    saved = ckpt / "epoch=0-step=5.ckpt"
    saved.write_bytes(b"weights")
    callback = ModelCheckpoint(dirpath=ckpt, monitor="val/loss")
    callback.best_k_models = {str(saved): torch.tensor(0.5)}
    callback.best_model_path = str(saved)
    logger = FerrotrackLogger()  # "last": copied at the end
    logger.after_save_checkpoint(callback)
    saved.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        logger.finalize("success")
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert len(messages) == 1
    assert "could not be copied" in messages[0]
    assert saved.name in messages[0]
    run = logger.experiment
    assert run_json(run.run_dir)["status"] == "finished"
    events = ft.events(run_id=run.run_id, kind="checkpoint")
    assert events["name"].to_list() == [saved.name]
    data = json.loads(events["data"][0])
    assert (data["monitor"], data["score"], data["artifact"]) == ("val/loss", 0.5, None)


def test_a_fit_resumed_from_its_checkpoint_continues_the_run_named_by_run_id(
    root: Path, tmp_path: Path
) -> None:
    """What ``MLFlowLogger(run_id=...)`` does: the same id later continues that run (it
    raised RunExistsError in the Trainer's setup). Checkpoints land in
    ``<default_root_dir>/<experiment>/<run id>/checkpoints``, from ``name`` and ``version``."""
    first = FerrotrackLogger("resumed", run_id="run-42")
    trainer(first, enable_checkpointing=True, default_root_dir=tmp_path).fit(TinyModel(), loader())
    folder = tmp_path / "resumed" / "run-42" / "checkpoints"
    [saved] = list(folder.iterdir())
    assert run_json(first.experiment.run_dir)["status"] == "finished"

    again = FerrotrackLogger("resumed", run_id="run-42", tags={"leg": "2"})
    trainer(again, epochs=2, enable_checkpointing=True, default_root_dir=tmp_path).fit(
        TinyModel(), loader(), ckpt_path=saved
    )
    assert again.version == first.version == "run-42"
    meta = run_json(again.experiment.run_dir)
    assert meta["status"] == "finished"
    assert meta["tags"] == {"leg": "2"}
    assert names_and_steps("run-42")["train/loss"] == list(range(10))  # 0-4, then 5-9
    assert again.experiment.params["hidden"] == 4


def test_last_copies_a_checkpoint_once_not_again_at_each_finalize(
    root: Path, tmp_path: Path
) -> None:
    """``trainer.test`` after ``fit`` calls ``finalize`` again: the newest checkpoint, a
    file of any size, was copied into the run a second time. Removing the first copy shows
    whether a second is made."""

    class Tested(TinyModel):
        def test_step(self, batch: object, batch_idx: int) -> None:
            self.log("test/x", 1.0)

    logger = FerrotrackLogger()
    callback = ModelCheckpoint(dirpath=tmp_path / "ckpt")
    fit = trainer(logger, enable_checkpointing=True, callbacks=[callback])
    model = Tested()
    fit.fit(model, loader())
    copy = logger.experiment.run_dir / "artifacts" / "checkpoints" / "epoch=0-step=5.ckpt"
    assert copy.read_bytes() == (tmp_path / "ckpt" / "epoch=0-step=5.ckpt").read_bytes()
    copy.unlink()
    fit.test(model, loader(2))
    assert run_json(logger.experiment.run_dir)["status"] == "finished"
    assert not copy.exists()
    assert "test/x" in names_and_steps(logger.version)
