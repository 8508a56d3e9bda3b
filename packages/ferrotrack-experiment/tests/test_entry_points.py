"""Pipelines, callbacks and trackers of another distribution, found through this package's
entry-point groups with no import by the user: a real distribution (``dist-info`` with
``entry_points.txt``) on ``sys.path``, discovered by ``importlib.metadata`` as pip would."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from experiment_fixtures import write_experiment_config

from ferrotrack.core.store.catalog import list_runs
from ferrotrack.experiment import Experiment, UnknownNameError, YAMLSerializable

PLUGIN = textwrap.dedent(
    '''
    """A third-party distribution's pipeline, callback and tracker."""
    from ferrotrack.experiment import Callback, Metric, Pipeline, Tracker

    SEEN = []


    class PluginPipeline(Pipeline):
        @Pipeline.run_wrapper
        def run(self, config):
            for epoch in range(config.pipeline.epochs):
                self.run_epoch(epoch)
            self.run_metrics[Metric.TEST_ACC] = 0.75

        @Pipeline.epoch_wrapper
        def run_epoch(self, epoch_idx):
            self.epoch_metrics[Metric.TRAIN_LOSS] = 1.0 / (epoch_idx + 1)


    class PluginCallback(Callback):
        def on_epoch_end(self, epoch_idx, metrics):
            return epoch_idx >= 1  # stop after the second epoch


    class PluginTracker(Tracker):
        def log_params(self, params):
            SEEN.append(("params", params.get("repeat")))
    '''
)

ENTRY_POINTS = """\
[ferrotrack.experiment.pipelines]
PluginPipeline = ep_plugin:PluginPipeline

[ferrotrack.experiment.callbacks]
PluginCallback = ep_plugin:PluginCallback

[ferrotrack.experiment.trackers]
PluginTracker = ep_plugin:PluginTracker
"""


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder holding the installed distribution ``ep-plugin``, first on ``sys.path``."""
    folder = tmp_path / "site"
    info = folder / "ep_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    (folder / "ep_plugin.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    yield folder
    sys.modules.pop("ep_plugin", None)
    for name in ("PluginPipeline", "PluginCallback", "PluginTracker"):
        YAMLSerializable._registry.pop(name, None)


def write_config(folder: Path) -> Path:
    settings = {
        "pipeline": {
            "type": "PluginPipeline",
            "epochs": 4,
            "callbacks": [{"type": "PluginCallback"}],
        }
    }
    return write_experiment_config(
        folder,
        [{"name": "only", "repeat": 2}],
        {"name": "from-plugin"},
        env={"trackers": [{"type": "PluginTracker"}]},
        base={"settings": settings},
    )


def test_names_from_another_distribution_run_without_an_import(
    site: Path, root: Path, tmp_path: Path
) -> None:
    assert "ep_plugin" not in sys.modules
    experiment = Experiment.create(write_config(tmp_path / "cfg"))
    outcome = experiment.run()

    assert outcome.counts == {"completed": 0, "stopped": 2, "failed": 0, "skipped": 0}
    plugin = sys.modules["ep_plugin"]
    assert plugin.SEEN == [("params", 0), ("params", 1)]
    results = experiment.results().sort("repeat")
    assert results["status"].to_list() == ["stopped", "stopped"]
    assert results["test/acc"].to_list() == [0.75, 0.75]  # the code after the loop ran


def test_an_unknown_name_lists_the_plugins_names(site: Path, root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    base = yaml.safe_load((config / "base.yaml").read_text())
    base["settings"]["pipeline"]["type"] = "PluginPipelin"
    (config / "base.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(UnknownNameError) as caught:
        Experiment.create(config)
    assert "PluginPipeline" in caught.value.known
    assert "PluginCallback" not in caught.value.known  # a callback is not a pipeline


@pytest.mark.slow
def test_the_cli_finds_the_plugins_pipeline(site: Path, root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}
    cli = [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(root), "experiment"]
    command = [*cli, "run", str(config), "--no-progress"]
    ran = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    tags = [r.meta.get("tags", {}) for r in list_runs(root)]
    repeats = [t["ferrotrack.repeat"] for t in tags if t.get("ferrotrack.level") == "trial_run"]
    assert sorted(repeats) == ["0", "1"]
