"""Expanding a config directory into trials and trial runs: merge order, ``"?"`` values,
grids, seeds and the DictConfig handed to user code, checked on real YAML files."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from experiment_fixtures import write_yaml_files
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf

from ferrotrack.experiment.config import (
    TrialSpec,
    expand_trials,
    load_config_dir,
    trial_runs,
)

PYTHON_DIR = Path(__file__).resolve().parents[1] / "python"


def expand(folder: Path) -> list[TrialSpec]:
    return expand_trials(load_config_dir(folder))


# ---- strategies ------------------------------------------------------------------------

keys = st.text(alphabet="abc", min_size=1, max_size=2)  # few keys, so layers overlap
scalars = (
    st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.booleans()
    | st.none()
    | st.text(alphabet="xyz _-", max_size=5)
)
leaves = scalars | st.lists(scalars, max_size=3)
trees = st.recursive(
    st.dictionaries(keys, leaves, max_size=3),
    lambda inner: st.dictionaries(keys, inner | leaves, max_size=3),
    max_leaves=12,
)


# ---- merge order -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=trees, experiment=trees, trial=trees, repeat=st.integers(1, 3))
def test_merge_order_is_base_then_experiment_then_trial(
    base: dict[str, Any], experiment: dict[str, Any], trial: dict[str, Any], repeat: int
) -> None:
    """omegaconf's own merge (mappings merged, lists and scalars replaced) is the oracle;
    where it refuses (a list over a mapping or back), the next test says what happens."""
    try:
        expected = OmegaConf.to_container(OmegaConf.merge(base, experiment, trial))
    except TypeError:  # "Cannot merge incompatible container types"
        assume(False)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_yaml_files(
            Path(tmp),
            base={"settings": base},
            experiment={"name": "e", "settings": experiment},
            trials=[{"name": "t", "repeat": repeat, "settings": trial}],
        )
        cfg = load_config_dir(folder)
        (spec,) = expand_trials(cfg)
        assert spec.settings == expected
        assert (spec.name, spec.repeat, spec.index, spec.experiment) == ("t", repeat, 0, "e")
        # the files' dicts are not changed by the expansion, so a second one is the same
        assert cfg.base["settings"] == base
        assert cfg.trials[0]["settings"] == trial
        assert expand_trials(cfg)[0].settings == expected
        runs = trial_runs([spec])
        assert [r.repeat for r in runs] == list(range(repeat))
        for run in runs:
            config = run.config()
            assert isinstance(config, DictConfig)
            plain = OmegaConf.to_container(config)
            assert isinstance(plain, dict)
            assert (plain.pop("repeat"), plain.pop("seed")) == (run.repeat, run.seed)
            assert plain == {k: v for k, v in expected.items() if k not in ("repeat", "seed")}


def test_a_trial_changes_one_nested_key_and_keeps_its_siblings(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        base={"settings": {"pipeline": {"epochs": 1, "batch": 32}, "layers": [1, 2]}},
        experiment={"name": "e", "settings": {"pipeline": {"epochs": 5}, "layers": [3]}},
        trials=[{"name": "t", "settings": {"pipeline": {"batch": 8}}}],
    )
    (spec,) = expand(tmp_path)
    assert spec.settings == {"pipeline": {"epochs": 5, "batch": 8}, "layers": [3]}


def test_a_later_layer_replaces_a_value_of_another_shape(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        base={"settings": {"a": [1], "b": {"x": 1}, "c": {"y": 2}, "d": 5}},
        experiment={"name": "e", "settings": {"a": {"k": 1}, "b": [2], "c": None}},
        trials=[{"name": "t", "settings": {"d": {"z": 3}}}],
    )
    (spec,) = expand(tmp_path)
    assert spec.settings == {"a": {"k": 1}, "b": [2], "c": None, "d": {"z": 3}}


# ---- values and grids ------------------------------------------------------------------

option_lists = st.lists(st.integers(-50, 50), min_size=1, max_size=4, unique=True) | st.lists(
    st.text(alphabet="pqr", min_size=1, max_size=3), min_size=1, max_size=4, unique=True
)
GRID_KEYS = ["opt.lr", "batch", "model.depth.n"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    grid_options=st.lists(option_lists, min_size=0, max_size=3),
    values=st.none() | st.lists(st.integers(0, 9), min_size=1, max_size=3, unique=True),
    repeat=st.integers(1, 3),
    seed=st.none() | st.integers(0, 2**20),
    second=st.booleans(),
)
def test_values_and_grid_make_every_combination_exactly_once(
    grid_options: list[list[Any]],
    values: list[int] | None,
    repeat: int,
    seed: int | None,
    second: bool,
) -> None:
    grid = dict(zip(GRID_KEYS, grid_options, strict=False))
    settings_: dict[str, Any] = {"model": {"width": 4, "depth": {}}, "opt": {"name": "sgd"}}
    if values is not None:
        settings_["opt"]["momentum"] = "?"
        settings_["head"] = ["?", "fixed"]
    if seed is not None:
        settings_["seed"] = seed
    entry: dict[str, Any] = {"name": "t", "repeat": repeat, "settings": settings_, "grid": grid}
    if values is not None:
        entry["values"] = values
    trials = [entry] + ([{"name": "plain", "settings": {"x": 1}}] if second else [])
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_yaml_files(Path(tmp), experiment={"name": "exp"}, trials=trials)
        specs = expand(folder)
        runs = trial_runs(specs)
        runs_again = trial_runs(expand(folder))

    combos = math.prod(len(o) for o in grid.values()) * (len(values) if values else 1)
    assert len(specs) == combos + second
    assert [s.index for s in specs] == list(range(len(specs)))
    assert len({s.name for s in specs}) == len(specs)
    mine = [s for s in specs if s.name != "plain"]
    assert all(s.name.startswith("t") and s.repeat == repeat for s in mine)

    def picked(spec: TrialSpec) -> tuple[Any, ...]:
        s = spec.settings
        found = [s["model"]["depth"]["n"]] if "model.depth.n" in grid else []
        found = ([s["batch"]] if "batch" in grid else []) + found
        found = ([s["opt"]["lr"]] if "opt.lr" in grid else []) + found
        if values is not None:
            assert s["head"] == [s["opt"]["momentum"], "fixed"]
            found = [s["opt"]["momentum"], *found]
        return tuple(found)

    wanted = list(itertools.product(*([values] if values else []), *grid.values()))
    assert Counter(picked(s) for s in mine) == Counter(wanted)
    for s in mine:  # untouched settings stay, on every trial
        assert s.settings["model"]["width"] == 4
        assert s.settings["opt"]["name"] == "sgd"

    assert len(runs) == sum(s.repeat for s in specs)
    assert len({r.name for r in runs}) == len(runs)
    assert [(r.name, r.seed) for r in runs] == [(r.name, r.seed) for r in runs_again]
    for run in runs:
        if run.trial.name == "plain" or seed is None:
            first = zlib.crc32(f"exp/{run.trial.name}".encode())
            assert run.seed == (first + run.repeat) % 2**31
        else:
            assert run.seed == seed + run.repeat


def test_trial_names_show_the_value_and_options(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment={"name": "e", "settings": {"lr": "?", "m": {}}},
        trials=[
            {"name": "v", "values": [0.1, True, None, "adam", {"a": 1}]},
            {"name": "g", "values": [1], "grid": {"m.k": [1, 2], "b": ["x"]}},
        ],
    )
    names = [s.name for s in expand(tmp_path)]
    assert names == [
        "v[0.1]",
        "v[true]",
        "v[null]",
        "v[adam]",
        'v[{"a":1}]',
        "g[1][m.k=1,b=x]",
        "g[1][m.k=2,b=x]",
    ]


def test_a_grid_option_fills_a_placeholder_without_values(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment={"name": "e", "settings": {"opt": {"lr": "?"}, "layers": [{"n": 1}]}},
        trials=[{"name": "t", "grid": {"opt.lr": [0.1, 0.2], "layers.0.n": [5]}}],
    )
    specs = expand(tmp_path)
    assert [s.settings for s in specs] == [
        {"opt": {"lr": 0.1}, "layers": [{"n": 5}]},
        {"opt": {"lr": 0.2}, "layers": [{"n": 5}]},
    ]


def test_trials_do_not_share_mutable_settings(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        base={"settings": {"nested": {"list": [1, 2]}}},
        experiment={"name": "e", "settings": {"v": "?"}},
        trials=[{"name": "t", "values": [{"k": [1]}, 2], "grid": {"g": [1, 2]}}],
    )
    specs = expand(tmp_path)
    specs[0].settings["nested"]["list"].append(3)
    specs[0].settings["v"]["k"].append(9)
    assert all(s.settings["nested"]["list"] == [1, 2] for s in specs[1:])
    assert specs[1].settings["v"] == {"k": [1]}


def test_a_folder_without_trials_is_one_trial_named_after_the_experiment(tmp_path: Path) -> None:
    write_yaml_files(tmp_path, experiment={"name": "solo", "id": 3, "settings": {"a": 1}})
    (spec,) = expand(tmp_path)
    assert (spec.name, spec.id, spec.repeat, spec.settings) == ("solo", 3, 1, {"a": 1})
    (run,) = trial_runs([spec])
    assert run.name == "solo/0"


# ---- the DictConfig of a trial run -----------------------------------------------------


def test_config_resolves_interpolations_with_repeat_and_seed(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment={
            "name": "e",
            "settings": {
                "seed": 100,
                "pipeline": {"epochs": 3, "name": "p-${pipeline.epochs}"},
                "out": "runs/${seed}/${repeat}",
            },
        },
        trials=[{"name": "t", "repeat": 2}],
    )
    runs = trial_runs(expand(tmp_path))
    configs = [r.config() for r in runs]
    assert [c.out for c in configs] == ["runs/100/0", "runs/101/1"]
    assert configs[0].pipeline.name == "p-3"
    assert configs[1].pipeline.get("missing", 7) == 7  # the guides' config.pipeline.get(...)
    assert configs[0].pipeline.epochs == 3


def test_expansion_makes_no_omegaconf_object(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 trials stay plain dicts; omegaconf only comes in at ``config()``."""
    write_yaml_files(
        tmp_path,
        experiment={"name": "e", "settings": {"a": {"b": "?"}, "c": "${a.b}"}},
        trials=[
            {"name": "t", "values": [1, 2], "grid": {f"k{i}": list(range(10)) for i in range(4)}}
        ],
    )
    cfg = load_config_dir(tmp_path)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("OmegaConf object made while expanding")

    with monkeypatch.context() as patch:
        patch.setattr(OmegaConf, "create", refuse)
        patch.setattr(DictConfig, "__init__", refuse)
        runs = trial_runs(expand_trials(cfg))
    assert len(runs) == 20_000
    assert runs[-1].config().c == 2


SEEDS_SCRIPT = """
import json, sys
from ferrotrack.experiment.config import expand_trials, load_config_dir, trial_runs
runs = trial_runs(expand_trials(load_config_dir(sys.argv[1])))
print(json.dumps([[r.name, r.seed] for r in runs]))
"""


@pytest.mark.slow
def test_seeds_are_the_same_in_another_process(tmp_path: Path) -> None:
    write_yaml_files(
        tmp_path,
        experiment={"name": "e", "settings": {"x": "?"}},
        trials=[{"name": "t", "repeat": 3, "values": ["a", "b"]}],
    )
    here = [[r.name, r.seed] for r in trial_runs(expand(tmp_path))]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(PYTHON_DIR)}
    out = subprocess.run(
        [sys.executable, "-c", SEEDS_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert json.loads(out.stdout) == here
    assert len({seed for _, seed in here}) == 6


def test_a_grid_key_inside_another_grid_option(tmp_path: Path) -> None:
    """An earlier option may make the way to a later key (``a`` then ``a.y``)."""
    write_yaml_files(
        tmp_path,
        experiment={"name": "e", "settings": {"a": 5, "b": {"c": 1}}},
        trials=[{"name": "t", "grid": {"a": [{"x": 1}, {"x": 2}], "a.y": [3], "b": [7]}}],
    )
    assert [s.settings for s in expand(tmp_path)] == [
        {"a": {"x": 1, "y": 3}, "b": 7},
        {"a": {"x": 2, "y": 3}, "b": 7},
    ]
