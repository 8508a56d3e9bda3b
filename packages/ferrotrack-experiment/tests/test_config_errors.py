"""Bad config directories: each problem is a ConfigError naming the file, the key path and
what was expected (the message alone must be enough to fix the YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from experiment_fixtures import write_yaml_files

from ferrotrack.experiment.config import expand_trials, load_config_dir, trial_runs
from ferrotrack.experiment.errors import ConfigError, ExperimentError

GOOD_EXPERIMENT = {"name": "e", "settings": {"pipeline": {"type": "P", "epochs": 2}}}


def load_error(folder: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        expand_trials(load_config_dir(folder))
    return caught.value


def check(error: ConfigError, file: Path, key: str | None, *phrases: str) -> None:
    """The error names ``file`` and ``key`` in its attributes and in its message."""
    assert isinstance(error, ExperimentError)
    assert error.file == file
    assert error.key == key
    message = str(error)
    assert str(file) in message
    if key is not None:
        assert repr(key) in message
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in {message!r}"


# ---- the files -------------------------------------------------------------------------


def test_missing_experiment_yaml(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, base={"settings": {}}, experiment_="name: typo\n")
    error = load_error(tmp_path)
    check(error, tmp_path / "experiment.yaml", None, "missing experiment.yaml", "found:")
    assert "experiment_.yaml" in str(error)


def test_config_dir_that_does_not_exist(tmp_path: Path) -> None:
    check(load_error(tmp_path / "nope"), tmp_path / "nope", None, "does not exist")


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment="name: e\nsettings:\n  pipeline:\n    epochs: [1, 2\n  lr: 0.1\n",
    )
    error = load_error(tmp_path)
    check(error, tmp_path / "experiment.yaml", None, "malformed YAML at line 5")
    assert isinstance(error.__cause__, yaml.YAMLError)


def test_malformed_trials_yaml_names_its_line(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path, experiment=GOOD_EXPERIMENT, trials="- name: a\n- name: b\n  repeat: : 2\n"
    )
    check(load_error(tmp_path), tmp_path / "trials.yaml", None, "malformed YAML at line 3")


def test_a_key_given_twice_in_one_mapping(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment="name: e\nsettings:\n  lr: 0.1\n  lr: 0.2\n")
    check(load_error(tmp_path), tmp_path / "experiment.yaml", None, "line 4", "first at line 3")


@pytest.mark.parametrize(
    ("file", "content", "key", "expected"),
    [
        (
            "trials",
            [{"name": "a"}, {"name": "b", "repeat": "three"}],
            "trials[1].repeat",
            "an integer ≥ 1",
        ),
        (
            "trials",
            [{"name": "a", "settings": [1, 2]}],
            "trials[0].settings",
            "a mapping, got a list",
        ),
        (
            "trials",
            [{"name": "a", "grid": {"lr": 0.1}}],
            "trials[0].grid.lr",
            "a non-empty list of options",
        ),
        ("trials", [{"name": "a", "values": "0.1"}], "trials[0].values", "a non-empty list"),
        ("trials", [{"name": 3}], "trials[0].name", "a non-empty string"),
        ("trials", [{"name": "a", "id": [1]}], "trials[0].id", "an integer or a string"),
        ("trials", ["a"], "trials[0]", "a mapping, got 'a' (a string)"),
        ("trials", {"name": "a"}, "(top level)", "a list of trials"),
        ("env", {"verbose": "very"}, "verbose", "true or false, got 'very' (a string)"),
        ("env", {"on_error": "ignore"}, "on_error", "'continue' or 'raise'"),
        ("env", {"trackers": {"type": "jsonl"}}, "trackers", "a list of {type"),
        ("env", {"trackers": [{"path": "x"}]}, "trackers[0].type", "a tracker or backend name"),
        ("env", {"workspace": 3}, "workspace", "a non-empty path string"),
        ("experiment", {"name": "e", "settings": 5}, "settings", "a mapping, got 5 (an integer)"),
        ("experiment", {"name": ["e"]}, "name", "a non-empty string"),
        ("experiment", {"settings": {}}, "name", "missing the experiment's name"),
        ("experiment", "", "name", "the file is empty"),
        ("base", {"settings": "x"}, "settings", "a mapping, got 'x'"),
    ],
)
def test_a_key_of_the_wrong_type(
    tmp_path: Path, file: str, content: Any, key: str, expected: str
) -> None:
    files: dict[str, Any] = {"experiment": GOOD_EXPERIMENT, file: content}
    write_yaml_files(tmp_path, **files)
    check(load_error(tmp_path), tmp_path / f"{file}.yaml", key, expected)


def test_a_date_in_settings_asks_for_quotes(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment="name: e\nsettings:\n  data:\n    since: 2024-01-31\n")
    check(load_error(tmp_path), tmp_path / "experiment.yaml", "settings.data.since", "quote it")


def test_a_boolean_key_explains_yaml_booleans(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment=GOOD_EXPERIMENT, base="settings:\n  flags:\n    on: 1\n")
    error = load_error(tmp_path)
    check(error, tmp_path / "base.yaml", "settings.flags", "key True", "quote the key")


@pytest.mark.parametrize(
    ("file", "content", "key", "allowed"),
    [
        ("experiment", {"name": "e", "setings": {}}, "setings", "name, id, desc, settings"),
        ("env", {"workspace": "w", "tracker": []}, "tracker", "workspace, root, verbose, debug"),
        ("base", {"settings": {}, "lr": 1}, "lr", "allowed keys: settings"),
        ("trials", [{"name": "a", "repeats": 2}], "trials[0].repeats", "name, id, repeat"),
    ],
)
def test_unknown_top_level_key_lists_the_allowed_ones(
    tmp_path: Path, file: str, content: Any, key: str, allowed: str
) -> None:
    files: dict[str, Any] = {"experiment": GOOD_EXPERIMENT, file: content}
    write_yaml_files(tmp_path, **files)
    check(load_error(tmp_path), tmp_path / f"{file}.yaml", key, "unknown key", allowed)


def test_duplicate_trial_names(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment=GOOD_EXPERIMENT,
        trials=[{"name": "a"}, {"name": "b"}, {"name": "a", "repeat": 2}],
    )
    check(
        load_error(tmp_path),
        tmp_path / "trials.yaml",
        "trials[2].name",
        "duplicate trial name 'a'",
        "trials[0]",
    )


def test_duplicate_names_made_by_expansion(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment={"name": "e", "settings": {"lr": "?"}},
        trials=[{"name": "a", "values": [1, "1"]}],
    )
    check(
        load_error(tmp_path), tmp_path / "trials.yaml", "trials[0].values", "'a[1]' is made twice"
    )


def test_expanded_name_equal_to_another_trial(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment={"name": "e", "settings": {"lr": 1}},
        trials=[{"name": "a[lr=1]"}, {"name": "a", "grid": {"lr": [1, 2]}}],
    )
    check(load_error(tmp_path), tmp_path / "trials.yaml", "trials[1].grid", "trials[0]")


@pytest.mark.parametrize("repeat", [0, -1, True, 1.5])
def test_repeat_below_one_or_not_an_integer(tmp_path: Path, repeat: Any) -> None:
    write_yaml_files(tmp_path, experiment=GOOD_EXPERIMENT, trials=[{"name": "a", "repeat": repeat}])
    check(load_error(tmp_path), tmp_path / "trials.yaml", "trials[0].repeat", "an integer ≥ 1")


# ---- placeholders and grids ------------------------------------------------------------


def test_placeholder_without_values_names_where_it_was_written(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment=GOOD_EXPERIMENT,
        base={"settings": {"opt": {"lr": "?"}}},
        trials=[{"name": "a", "values": [1]}, {"name": "b"}],
    )
    error = load_error(tmp_path)
    check(error, tmp_path / "base.yaml", "settings.opt.lr", "trial 'b'", "trials[1]", "'values")


def test_placeholder_in_trial_settings_names_the_trial_entry(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path, experiment=GOOD_EXPERIMENT, trials=[{"name": "a", "settings": {"x": ["?"]}}]
    )
    check(load_error(tmp_path), tmp_path / "trials.yaml", "trials[0].settings.x[0]", "'?'")


def test_placeholder_without_any_trials(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment={"name": "e", "settings": {"lr": "?"}})
    check(load_error(tmp_path), tmp_path / "experiment.yaml", "settings.lr", "no trials.yaml entry")


def test_values_without_a_placeholder(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment=GOOD_EXPERIMENT, trials=[{"name": "a", "values": [1, 2]}])
    check(load_error(tmp_path), tmp_path / "trials.yaml", "trials[0].values", "no '?' setting")


def test_grid_key_through_a_scalar(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment=GOOD_EXPERIMENT,
        trials=[{"name": "a", "grid": {"pipeline.type.x": [1]}}],
    )
    error = load_error(tmp_path)
    check(error, tmp_path / "trials.yaml", "trials[0].grid.pipeline.type.x", "pipeline.type is 'P'")


def test_grid_with_an_empty_option_list(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path, experiment=GOOD_EXPERIMENT, trials=[{"name": "a", "grid": {"lr": []}}]
    )
    check(load_error(tmp_path), tmp_path / "trials.yaml", "trials[0].grid.lr", "non-empty list")


# ---- interpolation, at config() --------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "file", "key"),
    [
        ("experiment", "experiment.yaml", "settings.pipeline.name"),
        ("base", "base.yaml", "settings.pipeline.name"),
        ("trial", "trials.yaml", "trials[1].settings.pipeline.name"),
        ("values", "trials.yaml", "trials[1].values"),
        ("grid", "trials.yaml", "trials[1].grid.pipeline.name"),
    ],
)
def test_bad_interpolation_names_its_file_at_config(
    tmp_path: Path, where: str, file: str, key: str
) -> None:
    bad = "run-${nope}"
    experiment: dict[str, Any] = {"name": "e", "settings": {"pipeline": {"epochs": 2}}}
    base: dict[str, Any] = {"settings": {}}
    trial: dict[str, Any] = {"name": "b", "repeat": 2}
    if where == "experiment":
        experiment["settings"]["pipeline"]["name"] = bad
    elif where == "base":
        base["settings"] = {"pipeline": {"name": bad}}
    elif where == "trial":
        trial["settings"] = {"pipeline": {"name": bad}}
    elif where == "values":
        trial["settings"] = {"pipeline": {"name": "?"}}
        trial["values"] = [bad]
    else:
        trial["grid"] = {"pipeline.name": [bad]}
    write_yaml_files(tmp_path, experiment=experiment, base=base, trials=[{"name": "a"}, trial])
    runs = trial_runs(expand_trials(load_config_dir(tmp_path)))  # expanding does not resolve
    assert runs[0].trial.name == "a"
    with pytest.raises(ConfigError) as caught:
        runs[-1].config()
    check(caught.value, tmp_path / file, key, "(repeat 1)", "'run-${nope}'", "'nope' not found")
