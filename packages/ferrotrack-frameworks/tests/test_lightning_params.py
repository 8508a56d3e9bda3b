"""to_params: Lightning hyperparameters to JSON params (property tests), and the round
trip through a run's ``params.json``; CheckpointTracker on real files."""

from __future__ import annotations

import enum
import json
import math
import os
from argparse import Namespace
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.pytorch.utilities.parsing import AttributeDict

import ferrotrack.core as ft
from ferrotrack.core.errors import InvalidValueError
from ferrotrack.frameworks.lightning import to_params
from ferrotrack.frameworks.lightning.checkpoints import CheckpointTracker


class Colour(enum.Enum):
    RED = "red"
    BLUE = 2


# keys without dots: a dotted key is a path in ferrotrack params (core's rule)
# (and no "__dict__": argparse.Namespace cannot hold it)
keys = st.text(st.characters(blacklist_characters=".", codec="utf-8"), min_size=1, max_size=8)
keys = keys.filter(lambda k: not k.startswith("__"))
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)
json_params = st.dictionaries(keys, json_values, max_size=6)

odd_leaves = (
    json_leaves
    | st.floats()
    | st.sampled_from([Colour.RED, Colour.BLUE, Path("/data/x"), print, torch.nn.Linear])
    | st.integers(-100, 100).map(torch.tensor)
    | st.lists(st.floats(allow_nan=False), max_size=80).map(torch.tensor)
    | st.builds(object)
)
odd_values = st.recursive(
    odd_leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.frozensets(st.integers(), max_size=4)
        | st.dictionaries(keys | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_params)
def test_json_params_are_kept_exactly(params: dict[str, Any]) -> None:
    assert to_params(params) == params
    assert to_params(AttributeDict(params)) == params
    namespace = Namespace()  # as argparse fills it: Namespace(**params) refuses a key "self"
    vars(namespace).update(params)
    assert to_params(namespace) == params


@given(st.dictionaries(keys, odd_values, max_size=6))
def test_anything_becomes_json_that_survives_a_round_trip(params: dict[str, Any]) -> None:
    converted = to_params(params)
    text = json.dumps(converted, allow_nan=False)
    assert json.loads(text) == converted
    assert to_params(converted) == converted  # idempotent


def test_values_take_their_nearest_json_form() -> None:
    cyclic: dict[str, Any] = {"n": 1}
    cyclic["self"] = cyclic
    converted = to_params(
        {
            "enum": Colour.BLUE,
            "path": Path("/d"),
            "nan": math.nan,
            "tensor": torch.tensor(0.5),
            "big": torch.zeros(100, 2),
            "fn": os.path.join,
            "cls": torch.nn.Linear,
            "tuple": (1, (2, 3)),
            "set": {3, 1, 2},
            "int_keys": {1: "a"},
            "cyclic": cyclic,
        }
    )
    assert converted == {
        "enum": 2,
        "path": "/d",
        "nan": "nan",
        "tensor": 0.5,
        "big": "<Tensor shape (100, 2)>",
        "fn": "posixpath.join",
        "cls": "torch.nn.modules.linear.Linear",
        "tuple": [1, [2, 3]],
        "set": [1, 2, 3],
        "int_keys": {"1": "a"},
        "cyclic": {"n": 1, "self": "<cycle>"},
    }


def test_not_a_mapping_is_refused_naming_the_plugin() -> None:
    with pytest.raises(InvalidValueError, match=r"framework 'lightning'.*list"):
        to_params([1, 2])  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)  # a run per example
@given(json_params)
def test_params_round_trip_through_a_run(params: dict[str, Any]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder, ft.start_run(root=folder) as run:
        run.log_params(to_params(params))
        assert run.params == params
        assert json.loads((run.run_dir / "params.json").read_text()) == params


def test_the_tracker_reports_new_and_rewritten_files_once(tmp_path: Path) -> None:
    class Callback:
        monitor = "val/loss"
        best_k_models: dict[str, Any]
        last_model_path = ""
        best_model_path = ""
        _last_global_step_saved = 5

    first, last = tmp_path / "a.ckpt", tmp_path / "last.ckpt"
    first.write_bytes(b"1")
    cb = Callback()
    cb.best_k_models = {str(first): torch.tensor(0.25)}
    tracker = CheckpointTracker()
    [saved] = tracker.new(cb)
    assert (saved.path, saved.score, saved.step, saved.monitor) == (first, 0.25, 5, "val/loss")
    assert tracker.new(cb) == []  # seen
    last.write_bytes(b"22")
    cb.last_model_path = str(last)
    assert [s.path for s in tracker.new(cb)] == [last]
    last.write_bytes(b"333")  # rewritten under the same name
    assert [s.path for s in tracker.new(cb)] == [last]
    assert tracker.latest is not None
    assert tracker.latest.path == last
    first.unlink()  # removed by top-k: skipped, no error
    assert tracker.new(cb) == []
