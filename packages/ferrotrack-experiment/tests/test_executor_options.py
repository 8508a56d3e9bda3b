"""The executor's options are checked before anything starts; ``on_error: raise`` hands
no more trials to the backend once one failed (those running finish)."""

from __future__ import annotations

from pathlib import Path

import pytest
from experiment_fixtures import runs_at
from test_executor_local import load_pipelines, write_config

from ferrotrack.experiment import ConfigError, Experiment, ExperimentError


def test_bad_executor_options_fail_before_any_run_starts(root: Path, tmp_path: Path) -> None:
    load_pipelines(tmp_path)
    experiment = Experiment.create(write_config(tmp_path, [{"name": "a"}]))
    with pytest.raises(ConfigError, match=r"executor\.nonsense: "):
        experiment.run(progress=False, executor={"type": "local", "nonsense": 1})
    with pytest.raises(ConfigError, match=r"executor\.timeout: "):
        experiment.run(progress=False, executor={"type": "local", "timeout": "soon"})
    assert runs_at(root, "experiment") == []  # no experiment run was started


@pytest.mark.slow
def test_on_error_raise_starts_no_trial_after_the_first_failure(root: Path, tmp_path: Path) -> None:
    load_pipelines(tmp_path)
    config = write_config(
        tmp_path,
        [
            {"name": "raises", "settings": {"pipeline": {"fail": True}}},
            {"name": "later1"},
            {"name": "later2"},
        ],
        executor="local",
        max_concurrency=1,
        on_error="raise",
    )
    experiment = Experiment.create(config)
    with pytest.raises(ExperimentError, match="raises"):
        experiment.run(progress=False)
    trial_runs = {r.meta["name"] for r in runs_at(root, "trial_run")}
    assert trial_runs == {"raises/0"}, trial_runs
