"""Params: merged across every process of a run, a dotted key is a path, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.core import errors
from ferrotrack.core.params import expand, flatten, merge, normalize


def params_json(run: ft.Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((run.run_dir / "params.json").read_text())
    return data


keys = st.text(min_size=1, max_size=5).filter(lambda k: "." not in k)
scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
nested = st.recursive(
    scalars,
    lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=3),
    max_leaves=8,
)
param_dicts = st.dictionaries(keys, nested, max_size=4)


@given(param_dicts)
def test_expand_undoes_flatten(params: dict[str, Any]) -> None:
    assert expand(flatten(params)) == params


@given(param_dicts, param_dicts)
def test_merging_flat_or_nested_gives_the_same_params(a: dict[str, Any], b: dict[str, Any]) -> None:
    nested_merge = merge(a, b)
    flat_merge = expand({**flatten(a), **flatten(b)})
    # A nested object replacing a scalar (or the reverse) drops the other spelling's keys
    # only where the paths conflict; flatten() of both agrees on every path of b.
    for key, value in flatten(b).items():
        assert flatten(nested_merge)[key] == value
        assert flatten(flat_merge)[key] == value
    assert normalize(flatten(nested_merge)) == nested_merge


def test_a_dotted_key_sets_the_nested_value(root: Path) -> None:
    with ft.start_run(params={"optim": {"lr": 0.1, "wd": 0.0}}) as run:
        run.log_params({"optim.lr": 0.2, "model.depth": 4})
    assert params_json(run) == {"optim": {"lr": 0.2, "wd": 0.0}, "model": {"depth": 4}}
    table = ft.runs()
    assert table["params.optim.lr"].to_list() == [0.2]
    assert "params.optim" not in table.columns


def test_bad_params_are_refused_before_anything_is_written(root: Path) -> None:
    with ft.start_run(params={"a": 1}) as run:
        with pytest.raises(errors.InvalidValueError, match="expected a mapping"):
            run.log_params([("a", 2)])  # type: ignore[arg-type]
        with pytest.raises(errors.InvalidValueError, match="keys must be str"):
            run.log_params({1: 2})  # type: ignore[dict-item]
        with pytest.raises(errors.InvalidValueError, match=r"param 'b'"):
            run.log_params({"a": 3, "b": object()})
    assert params_json(run) == {"a": 1}


@pytest.mark.slow
def test_a_child_process_adds_params_without_wiping_the_parents(root: Path) -> None:
    with ft.start_run("parent", params={"lr": 0.1, "model": {"depth": 4}}) as run:
        script = "import ferrotrack.core as ft; ft.log_params({'worker_seed': 7})"
        child = subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "FERROTRACK_RUN_DIR": str(run.run_dir)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert child.returncode == 0, child.stderr
        run.log_params({"epochs": 3})
    expected = {"lr": 0.1, "model": {"depth": 4}, "worker_seed": 7, "epochs": 3}
    assert params_json(run) == expected
    assert run.params == expected
    row = ft.runs().row(0, named=True)
    assert (row["params.lr"], row["params.model.depth"], row["params.worker_seed"]) == (0.1, 4, 7)


@pytest.mark.slow
def test_concurrent_writers_never_lose_each_others_keys(root: Path) -> None:
    n = 100
    with ft.start_run("parent") as run:
        code = textwrap.dedent(
            f"""
            import sys
            import ferrotrack.core as ft
            run = ft.attach_run(sys.argv[1])
            me = sys.argv[2]
            for i in range({n}):
                run.log_params({{f"{{me}}.k{{i}}": i}})
            run.finish()
            """
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(run.run_dir), who],
                stderr=subprocess.PIPE,
                text=True,
            )
            for who in ("a", "b")
        ]
        for i in range(n):
            run.log_params({f"parent.k{i}": i})
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
    params = params_json(run)
    for who in ("a", "b", "parent"):
        assert params[who] == {f"k{i}": i for i in range(n)}
