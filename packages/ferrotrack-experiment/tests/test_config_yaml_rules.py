"""YAML as omegaconf reads it (1.2 floats, merge keys), and settings refused before anything
runs: NaN/infinity, a reserved ``repeat``, a non-integer ``seed``, ``"?"`` as a value or
option, a grid key through a mapping that does not exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from experiment_fixtures import write_yaml_files
from omegaconf import OmegaConf

from ferrotrack.experiment.config import expand_trials, load_config_dir, trial_runs
from ferrotrack.experiment.errors import ConfigError

EXPERIMENT = "name: e\nsettings:\n  pipeline: {type: P}\n"


def refused(folder: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        trial_runs(expand_trials(load_config_dir(folder)))
    return caught.value


@pytest.mark.parametrize("text", ["1e-5", "1E5", ".5", "+1.0e+3", "-2.5e-3", "1.5", "3"])
def test_numbers_load_as_omegaconf_reads_them(tmp_path: Path, text: str) -> None:
    write_yaml_files(tmp_path, experiment=EXPERIMENT + f"  lr: {text}\n")
    [trial] = expand_trials(load_config_dir(tmp_path))
    expected = OmegaConf.create(f"lr: {text}").lr
    assert trial.settings["lr"] == expected
    assert type(trial.settings["lr"]) is type(expected)
    assert isinstance(trial.settings["lr"], int | float)


def test_strings_that_only_look_numeric_stay_strings(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment=EXPERIMENT + "  a: 1.2.3\n  b: e5\n  c: '1e-5'\n")
    [trial] = expand_trials(load_config_dir(tmp_path))
    assert (trial.settings["a"], trial.settings["b"], trial.settings["c"]) == (
        "1.2.3",
        "e5",
        "1e-5",
    )


def test_a_key_twice_still_names_both_lines(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment=EXPERIMENT + "  lr: 1e-5\n  lr: 2e-5\n")
    error = refused(tmp_path)
    assert "'lr' given twice" in str(error)
    assert "line 4" in str(error)
    assert "line 5" in str(error)


def test_merge_keys_bring_an_anchor_and_explicit_keys_override(tmp_path: Path) -> None:
    trials = (
        "- name: a\n"
        "  settings: &s {opt: {lr: 1, wd: 2}}\n"
        "- name: b\n"
        "  settings:\n"
        "    <<: *s\n"
        "    x: 1\n"
        "- name: c\n"
        "  settings:\n"
        "    opt:\n"
        "      <<: {lr: 1, wd: 2}\n"
        "      lr: 3\n"
    )
    write_yaml_files(tmp_path, experiment=EXPERIMENT, trials=trials)
    found = {t.name: t.settings for t in expand_trials(load_config_dir(tmp_path))}
    assert found["b"]["opt"] == {"lr": 1, "wd": 2}
    assert found["b"]["x"] == 1
    assert found["c"]["opt"] == {"lr": 3, "wd": 2}


def test_an_explicit_duplicate_beside_a_merge_key_is_still_refused(tmp_path: Path) -> None:
    trials = "- name: a\n  settings:\n    <<: {lr: 1}\n    x: 1\n    x: 2\n"
    write_yaml_files(tmp_path, experiment=EXPERIMENT, trials=trials)
    error = refused(tmp_path)
    assert error.file == tmp_path / "trials.yaml"
    assert "'x' given twice" in str(error)


@pytest.mark.parametrize(
    ("trials", "key"),
    [
        ("- name: t\n  settings: {x: .inf}\n", "trials[0].settings.x"),
        ("- name: t\n  settings: {o: {x: [1, -.inf]}}\n", "trials[0].settings.o.x[1]"),
        ("- name: t\n  settings: {x: .nan}\n", "trials[0].settings.x"),
        ("- name: t\n  settings: {x: '?'}\n  values: [1, .nan]\n", "trials[0].values[1]"),
        ("- name: t\n  grid: {x: [1, .inf]}\n", "trials[0].grid.x[1]"),
    ],
)
def test_nan_and_infinity_are_refused_at_load(tmp_path: Path, trials: str, key: str) -> None:
    write_yaml_files(tmp_path, experiment=EXPERIMENT, trials=trials)
    error = refused(tmp_path)
    assert error.file == tmp_path / "trials.yaml"
    assert error.key == key
    assert "NaN/infinity cannot be stored as a param; quote it if you mean the string" in str(error)


def test_quoted_nan_is_a_string(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment=EXPERIMENT, trials="- name: t\n  settings: {x: '.nan'}\n")
    [trial] = expand_trials(load_config_dir(tmp_path))
    assert trial.settings["x"] == ".nan"


# ---- grid paths --------------------------------------------------------------------------


def test_a_grid_key_through_a_missing_mapping_lists_the_keys_there(tmp_path: Path) -> None:
    experiment = EXPERIMENT + "  optimizer: {lr: 0.1, name: sgd}\n"
    trials = "- name: sweep\n  grid: {optimiser.lr: [0.1, 0.2]}\n"
    write_yaml_files(tmp_path, experiment=experiment, trials=trials)
    error = refused(tmp_path)
    assert error.file == tmp_path / "trials.yaml"
    assert error.key == "trials[0].grid.optimiser.lr"
    message = str(error)
    assert "'sweep'" in message
    assert "optimizer, pipeline" in message  # the keys that level has


def test_a_grid_key_deeper_down_names_its_level(tmp_path: Path) -> None:
    experiment = EXPERIMENT + "  model: {enc: {depth: 2}}\n"
    write_yaml_files(
        tmp_path, experiment=experiment, trials="- name: t\n  grid: {model.dec.depth: [1]}\n"
    )
    error = refused(tmp_path)
    assert "existing keys at model: enc" in str(error)


def test_a_new_leaf_under_an_existing_mapping_is_fine(tmp_path: Path) -> None:
    experiment = EXPERIMENT + "  optimizer: {lr: 0.1}\n"
    write_yaml_files(
        tmp_path, experiment=experiment, trials="- name: t\n  grid: {optimizer.wd: [0, 1]}\n"
    )
    specs = expand_trials(load_config_dir(tmp_path))
    assert [s.settings["optimizer"] for s in specs] == [{"lr": 0.1, "wd": 0}, {"lr": 0.1, "wd": 1}]


# ---- reserved and placeholder settings --------------------------------------------------


@pytest.mark.parametrize(
    ("files", "file", "key"),
    [
        ({"experiment": EXPERIMENT + "  repeat: 3\n"}, "experiment.yaml", "settings.repeat"),
        (
            {"experiment": EXPERIMENT, "trials": "- name: t\n  settings: {repeat: 2}\n"},
            "trials.yaml",
            "trials[0].settings.repeat",
        ),
        (
            {"experiment": EXPERIMENT, "trials": "- name: t\n  grid: {repeat: [1, 2]}\n"},
            "trials.yaml",
            "trials[0].grid.repeat",
        ),
    ],
)
def test_repeat_is_reserved(tmp_path: Path, files: dict[str, str], file: str, key: str) -> None:
    write_yaml_files(tmp_path, **files)
    error = refused(tmp_path)
    assert error.file == tmp_path / file
    assert error.key == key
    assert "reserved" in str(error)


@pytest.mark.parametrize("seed", ["'abc'", "1.5", "true", "[1]", "'${name_of}'"])
def test_a_seed_that_is_no_integer_is_refused(tmp_path: Path, seed: str) -> None:
    experiment = EXPERIMENT + f"  name_of: x\n  seed: {seed}\n"
    write_yaml_files(tmp_path, experiment=experiment)
    error = refused(tmp_path)
    assert error.file == tmp_path / "experiment.yaml"
    assert error.key == "settings.seed"
    assert "expected an integer" in str(error)


def test_an_interpolated_integer_seed_counts(tmp_path: Path) -> None:
    experiment = EXPERIMENT + "  base_seed: 40\n  seed: ${base_seed}\n"
    write_yaml_files(tmp_path, experiment=experiment, trials="- name: t\n  repeat: 2\n")
    runs = trial_runs(expand_trials(load_config_dir(tmp_path)))
    assert [r.seed for r in runs] == [40, 41]
    assert [r.config().seed for r in runs] == [40, 41]


@pytest.mark.parametrize(
    ("trials", "key"),
    [
        ("- name: t\n  settings: {x: '?'}\n  values: [1, '?']\n", "trials[0].values[1]"),
        ("- name: t\n  settings: {x: '?'}\n  values: [{a: '?'}]\n", "trials[0].values[0].a"),
        ("- name: t\n  grid: {x: ['?', 2]}\n", "trials[0].grid.x[0]"),
    ],
)
def test_a_placeholder_as_a_value_or_option_is_refused(
    tmp_path: Path, trials: str, key: str
) -> None:
    write_yaml_files(tmp_path, experiment=EXPERIMENT, trials=trials)
    error = refused(tmp_path)
    assert error.file == tmp_path / "trials.yaml"
    assert error.key == key
    assert "placeholder" in str(error)


def test_round_trip_of_dumped_floats(tmp_path: Path) -> None:
    values: list[Any] = [1e-5, 1e20, 0.5, -3.25e-7, 12.0]
    write_yaml_files(tmp_path, experiment=yaml.safe_dump({"name": "e", "settings": {"v": values}}))
    [trial] = expand_trials(load_config_dir(tmp_path))
    assert trial.settings["v"] == values
