"""Without Lightning: importing the plugin stays light, and using it names the extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HIDE = textwrap.dedent(
    """
    import sys

    class Hide:
        # what Python sees when neither Lightning package is installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("lightning", "pytorch_lightning"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Hide())
    """
)


def python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_importing_the_plugin_imports_neither_torch_nor_lightning(tmp_path: Path) -> None:
    done = python(
        textwrap.dedent(
            """
            import sys
            import ferrotrack.frameworks.lightning as lit
            from ferrotrack.frameworks import LightningFramework
            from ferrotrack.core.plugins.discovery import discover
            assert LightningFramework is lit.LightningFramework
            meta = LightningFramework.get_metadata()
            discover()
            heavy = sorted(m for m in sys.modules
                           if m.split(".")[0] in ("torch", "lightning", "pytorch_lightning"))
            print(meta.name, meta.dependencies, heavy)
            """
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "lightning ['lightning'] []"


def test_without_lightning_start_run_and_the_logger_name_the_extra(tmp_path: Path) -> None:
    done = python(
        HIDE
        + textwrap.dedent(
            """
            import ferrotrack.core as ft
            from ferrotrack.core.errors import MissingDependencyError
            try:
                ft.start_run("x", root="store", frameworks=["lightning"])
            except MissingDependencyError as exc:
                print("start_run:", exc)
            try:
                from ferrotrack.frameworks.lightning import FerrotrackLogger
            except MissingDependencyError as exc:
                print("logger:", exc)
            import os
            print("store left:", os.path.exists("store/experiment=default"))
            """
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    hint = "pip install ferrotrack-frameworks[lightning]"
    assert lines[0].startswith("start_run:")
    assert hint in lines[0]
    assert "'lightning'" in lines[0]
    assert lines[1].startswith("logger:")
    assert hint in lines[1]
    assert "lightning 2.1 to 2.6.x" in lines[1]
    assert lines[2] == "store left: False"


def test_with_only_pytorch_lightning_the_logger_is_a_pytorch_lightning_logger(
    tmp_path: Path,
) -> None:
    """The fallback: ``lightning`` hidden, ``pytorch_lightning`` (installed here) used."""
    done = python(
        HIDE.replace('("lightning", "pytorch_lightning")', '("lightning",)')
        + textwrap.dedent(
            """
            import torch
            import pytorch_lightning as pl
            from torch.utils.data import DataLoader, TensorDataset
            import ferrotrack.core as ft
            from ferrotrack.frameworks.lightning import FerrotrackLogger

            class M(pl.LightningModule):
                def __init__(self):
                    super().__init__()
                    self.layer = torch.nn.Linear(2, 1)
                def training_step(self, batch, i):
                    loss = self.layer(batch[0]).pow(2).mean()
                    self.log("loss", loss)
                    return loss
                def configure_optimizers(self):
                    return torch.optim.SGD(self.parameters(), lr=0.1)

            assert isinstance(FerrotrackLogger(), pl.loggers.Logger)
            logger = FerrotrackLogger(root="store")
            data = DataLoader(TensorDataset(torch.randn(12, 2)), batch_size=4)
            pl.Trainer(max_epochs=1, accelerator="cpu", logger=logger, log_every_n_steps=1,
                       enable_progress_bar=False, enable_model_summary=False,
                       enable_checkpointing=False).fit(M(), data)
            frame = ft.metrics(runs=[logger.version], root="store").collect()
            print(sorted(set(frame["name"].to_list())), logger.experiment.status)

            # on a rank that does not log: pytorch_lightning's stand-in, not lightning's
            from lightning_utilities.core.rank_zero import rank_zero_only
            rank_zero_only.rank = 1
            print(type(FerrotrackLogger(root="store").experiment).__module__)
            """
        ),
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-2:] == [
        "['epoch', 'loss'] finished",
        "lightning_fabric.loggers.logger",
    ]


def test_the_loggers_version_check_names_the_supported_range(tmp_path: Path) -> None:
    """Older than 2.1: the logger's import raises naming the range; newer than tested: one
    warning naming it, and the logger works."""
    code = textwrap.dedent(
        """
        import sys, warnings
        import lightning
        lightning.__version__ = sys.argv[1]
        from ferrotrack.core.errors import MissingDependencyError, PluginWarning
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                from ferrotrack.frameworks.lightning import FerrotrackLogger
            except MissingDependencyError as exc:
                print(type(exc).__name__, exc)
                raise SystemExit
            logger = FerrotrackLogger(root="store")
            logger.log_metrics({"a": 1.0}, step=0)
            logger.finalize("success")
        print([str(w.message) for w in caught if issubclass(w.category, PluginWarning)])
        print(logger.experiment.status)
        """
    )
    old = subprocess.run(
        [sys.executable, "-c", code, "2.0.9"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert old.returncode == 0, old.stderr
    assert old.stdout.startswith("UnsupportedVersionError framework 'lightning' supports")
    assert "lightning 2.1 to 2.6.x, found lightning 2.0.9" in old.stdout
    new = subprocess.run(
        [sys.executable, "-c", code, "2.7.0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert new.returncode == 0, new.stderr
    [warned, status] = new.stdout.strip().splitlines()
    assert warned.count("lightning 2.1 to 2.6.x") == 1
    assert "2.7.0 is newer" in warned
    assert status == "finished"
