"""LightningFramework: ``self.log``/``self.log_dict`` captured into the active run through
``start_run(frameworks=["lightning"])``, with a real Trainer on CPU; the patch restored
exactly, shared by nested runs, and kept out of trainers that have a FerrotrackLogger."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
from lightning_models import TinyModel, loader, trainer

import ferrotrack.core as ft
from ferrotrack.core.errors import PluginWarning
from ferrotrack.core.plugins.framework import patch_holders
from ferrotrack.core.plugins.metric_info import metric_info
from ferrotrack.frameworks.lightning import FerrotrackLogger, LightningFramework

ORIGINAL_LOG = pl.LightningModule.__dict__["log"]
ORIGINAL_LOG_DICT = pl.LightningModule.__dict__["log_dict"]


@pytest.fixture(autouse=True)
def unpatched() -> None:
    assert pl.LightningModule.__dict__["log"] is ORIGINAL_LOG
    assert pl.LightningModule.__dict__["log_dict"] is ORIGINAL_LOG_DICT


def points(run: ft.Run) -> dict[str, list[tuple[int, float]]]:
    frame = ft.metrics(runs=[run.run_id]).collect().sort("step")
    out: dict[str, list[tuple[int, float]]] = {}
    for name, step, value in frame.select("name", "step", "value").iter_rows():
        out.setdefault(name, []).append((step, value))
    return out


def test_self_log_lands_in_the_active_run_at_the_global_step(root: Path) -> None:
    with ft.start_run("capture", frameworks=["lightning"]) as run:
        assert pl.LightningModule.__dict__["log"] is not ORIGINAL_LOG
        trainer(epochs=2).fit(TinyModel(), loader(), loader(2, seed=1))
    assert pl.LightningModule.__dict__["log"] is ORIGINAL_LOG  # restored, is-identical
    assert pl.LightningModule.__dict__["log_dict"] is ORIGINAL_LOG_DICT
    got = points(run)
    # each training step's value, at the global step of the call (0..9)
    assert [s for s, _ in got["train/loss"]] == list(range(10))
    assert [s for s, _ in got["train/twice"]] == list(range(10))  # log_dict: once, not twice
    for (_, loss), (_, twice) in zip(got["train/loss"], got["train/twice"], strict=True):
        assert twice == pytest.approx(2 * loss, rel=1e-6)
    assert [v for _, v in got["train/batch"]] == [0.0, 1.0, 2.0, 3.0, 4.0] * 2
    assert "train/hidden" not in got  # logger=False
    # validation: 2 batches after each epoch (the sanity check's 2 are left out)
    assert [s for s, _ in got["val/loss"]] == [5, 5, 10, 10]
    assert metric_info(run.run_dir)["train/loss"]["source"] == "lightning"


def test_no_double_logging_when_a_ferrotrack_logger_is_attached(root: Path) -> None:
    with ft.start_run("both", frameworks=["lightning"]) as run:
        logger = FerrotrackLogger()
        trainer(logger).fit(TinyModel(), loader())
        assert logger.experiment is run
    got = points(run)
    assert [s for s, _ in got["train/loss"]] == list(range(5))  # the logger's only


def test_without_an_active_run_values_are_counted_as_dropped(root: Path) -> None:
    plugin = LightningFramework()
    with plugin:
        trainer().fit(TinyModel(), loader())
        assert plugin.get_status()["patches"] == 2
    assert plugin.dropped == 15  # 5 steps x (loss + two of log_dict)
    assert pl.LightningModule.__dict__["log"] is ORIGINAL_LOG


def test_nested_runs_share_one_patch_and_the_inner_run_gets_the_inner_values(
    root: Path,
) -> None:
    with ft.start_run("outer", frameworks=["lightning"]) as outer:
        patched = pl.LightningModule.__dict__["log"]
        with ft.start_run("inner", frameworks=["lightning"]) as inner:
            assert pl.LightningModule.__dict__["log"] is patched  # not wrapped twice
            assert patch_holders(LightningFramework) == 2
            trainer().fit(TinyModel(), loader())
        assert pl.LightningModule.__dict__["log"] is patched
        trainer().fit(TinyModel(), loader(3))
    assert pl.LightningModule.__dict__["log"] is ORIGINAL_LOG
    assert len(points(inner)["train/loss"]) == 5
    assert len(points(outer)["train/loss"]) == 3


def test_a_patch_someone_else_made_is_named_once_and_put_back_exactly(root: Path) -> None:
    def foreign_log(self: Any, name: str, value: Any, *args: Any, **kwargs: Any) -> None:
        ORIGINAL_LOG(self, name, value, *args, **kwargs)

    pl.LightningModule.log = foreign_log  # type: ignore[method-assign]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with ft.start_run("foreign", frameworks=["lightning"]) as run:
                trainer().fit(TinyModel(), loader())
        messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
        assert len([m for m in messages if "foreign_log" in m]) == 1
        assert "framework 'lightning'" in messages[0]
        assert pl.LightningModule.__dict__["log"] is foreign_log
        assert len(points(run)["train/loss"]) == 5  # captured through the foreign patch
    finally:
        pl.LightningModule.log = ORIGINAL_LOG  # type: ignore[method-assign]


def test_an_unsupported_version_sets_the_plugin_aside_naming_the_range(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lightning

    monkeypatch.setattr(lightning, "__version__", "2.0.9")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with ft.start_run("old", frameworks=["lightning"]) as run:
            run.log("still", 1.0)
    messages = [str(w.message) for w in caught if issubclass(w.category, PluginWarning)]
    assert any("lightning 2.1 to 2.6.x" in m and "2.0.9" in m for m in messages), messages
    assert pl.LightningModule.__dict__["log"] is ORIGINAL_LOG
    assert points(run) == {"still": [(0, 1.0)]}


def test_under_fabric_self_log_lands_at_the_runs_next_step(root: Path) -> None:
    """A LightningModule run by Fabric has no Trainer; Fabric hands its loggers no step, so
    the capture logs at the run's next step for the name (it left these values out)."""
    from lightning.fabric import Fabric

    fabric = Fabric(accelerator="cpu", devices=1)
    model, optimizer = fabric.setup(TinyModel(), TinyModel().configure_optimizers())
    with ft.start_run("fabric", frameworks=["lightning"]) as run:
        for index, batch in enumerate(loader(3)):
            loss = model.training_step(batch, index)
            fabric.backward(loss)
            optimizer.step()
    got = points(run)
    assert [s for s, _ in got["train/loss"]] == [0, 1, 2]
    assert [v for _, v in got["train/batch"]] == [0.0, 1.0, 2.0]  # log_dict, once each
    assert "train/hidden" not in got  # logger=False


def test_under_fabric_with_a_ferrotrack_logger_the_logger_alone_records(root: Path) -> None:
    from lightning.fabric import Fabric

    logger = FerrotrackLogger()
    fabric = Fabric(accelerator="cpu", devices=1, loggers=[logger])
    model = fabric.setup(TinyModel())
    with ft.start_run("fabric-logger", frameworks=["lightning"]) as run:
        for index, batch in enumerate(loader(2)):
            model.training_step(batch, index)
        assert logger.experiment is run
    assert [s for s, _ in points(run)["train/loss"]] == [0, 1]  # not twice
