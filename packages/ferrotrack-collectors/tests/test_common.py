"""What the collectors share: static facts flattened into dotted params that nest back to
the same data, Slurm facts that keep each value, plugin modules that import nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.collectors._common import facts
from ferrotrack.collectors.git import RepoFacts, patch_text
from ferrotrack.collectors.scheduler import SLURM_VARIABLES, slurm_facts
from ferrotrack.collectors.system import _Rate
from ferrotrack.core.params import normalize
from ferrotrack.core.plugins import MetricType

keys = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=10)
    | st.lists(st.integers(), max_size=3)
)
nested = st.recursive(leaves, lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=4),
                      max_leaves=20)  # fmt: skip


@given(st.dictionaries(keys, nested, min_size=1, max_size=5))
def test_facts_nest_back_to_what_was_given(values: dict[str, Any]) -> None:
    items = facts("sys", values, "system")
    assert all(m.type is MetricType.PARAMETER and m.source == "system" for m in items)
    assert all(m.name.startswith("sys.") for m in items)
    assert normalize({m.name: m.value for m in items}) == normalize({"sys": values})


digits = st.integers(min_value=0, max_value=10**12).map(str)
texts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz[]-,0123456789/", min_size=1, max_size=12)
odd = st.text(min_size=1, max_size=6).filter(lambda t: "\0" not in t)  # "²", "٣", "0042"
NUMBERS = {"job_id", "array_job_id", "array_task_id", "array_task_count", "num_nodes", "ntasks",
           "procid", "localid", "nodeid", "cpus_per_task", "cpus_on_node", "mem_per_node_mb",
           "mem_per_cpu_mb", "gpus_on_node", "restart_count"}  # fmt: skip


@given(st.dictionaries(st.sampled_from(sorted(SLURM_VARIABLES)), digits | texts | odd), digits)
def test_slurm_facts_keep_every_value(env: dict[str, str], job_id: str) -> None:
    """Counts and ids that are ASCII numbers become numbers; everything else (names,
    lists, any other text, however odd) is kept exactly, and nothing raises."""
    env = {**env, "SLURM_JOB_ID": job_id}
    got = slurm_facts(env)
    assert set(got) == {SLURM_VARIABLES[v] for v in env}
    for var, value in env.items():
        key = SLURM_VARIABLES[var]
        if key in NUMBERS and value.isascii() and value.isdigit():
            assert got[key] == int(value)
        else:
            assert got[key] == value
    assert slurm_facts({k: v for k, v in env.items() if k != "SLURM_JOB_ID"}) == {}


def test_slurm_names_that_look_like_numbers_stay_text() -> None:
    env = {"SLURM_JOB_ID": "7", "SLURM_JOB_NAME": "0042", "SLURM_JOB_GPUS": "0",
           "SLURM_NTASKS": "²"}  # fmt: skip
    assert slurm_facts(env) == {"job_id": 7, "job_name": "0042", "job_gpus": "0", "ntasks": "²"}


def test_plugin_modules_import_no_heavy_library() -> None:
    code = (
        "import sys, json\n"
        "for m in ('system', 'gpu', 'git', 'environment', 'scheduler', 'container'):\n"
        "    __import__('ferrotrack.collectors.' + m)\n"
        "print(json.dumps(sorted(m for m in ('psutil', 'pynvml', 'ray', 'distributed',"
        " 'torch', 'polars', 'pyarrow') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


@given(
    st.binary(max_size=300),
    st.integers(min_value=1, max_value=400),
    st.lists(st.from_regex(r"[a-z0-9_./-]{1,12}", fullmatch=True), max_size=4),
    st.one_of(st.none(), st.from_regex(r"[0-9a-f]{40}", fullmatch=True)),
)
def test_patch_text_is_a_header_then_the_diff_cut_at_the_limit(
    patch: bytes, limit: int, untracked: list[str], commit: str | None
) -> None:
    found = RepoFacts("/repo")
    found.patch, found.untracked, found.commit = patch, untracked, commit
    data, cut = patch_text(found, limit)
    assert cut is (len(patch) > limit)
    lines = data.split(b"\n")
    header = 1 + (len(untracked) + 1 if untracked else 0)
    assert all(line.startswith(b"#") for line in lines[:header])
    assert b"\n".join(lines[header:]) == patch[:limit]
    for name in untracked:
        assert f"#   {name}".encode() in lines[:header]


counters = st.integers(min_value=0, max_value=2**40)
steps = st.floats(min_value=0.001, max_value=100)


@given(st.lists(st.tuples(counters, steps), min_size=1, max_size=20))
def test_rates_are_never_negative_and_skip_resets(readings: list[tuple[int, float]]) -> None:
    rate = _Rate("x")
    now = 0.0
    last: int | None = None
    for value, step in readings:
        now += step
        got = rate.update(value, now)
        if last is None or value < last:
            assert got is None  # the first reading, or a counter that went back
        else:
            assert got is not None
            assert got >= 0
            assert abs(got * step - (value - last)) <= 1e-6 * max(1, value - last)
        last = value
