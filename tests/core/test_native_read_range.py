"""``read_run(run_dir, rank, start=, limit=)``: a range of one rank's points, read from the
segments that hold it, equal to the same slice of the whole rank."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrotrack.core import errors
from ferrotrack.core._native import MetricWriter, read_run


def _values(table: object) -> list[float]:
    values: list[float] = pa.table(table).column("value").to_pylist()
    return values


@settings(max_examples=40, deadline=None)
@given(
    flushes=st.lists(st.integers(0, 30), max_size=8),
    ranges=st.lists(st.tuples(st.integers(0, 250), st.none() | st.integers(0, 100)), max_size=10),
)
def test_a_range_is_the_same_slice_of_the_whole_rank(
    tmp_path_factory: pytest.TempPathFactory,
    flushes: list[int],
    ranges: list[tuple[int, int | None]],
) -> None:
    run = tmp_path_factory.mktemp("run")
    total = 0
    with MetricWriter(run, rank=2, background=False, compact_fanin=3) as w:
        for n in flushes:
            w.log_array("v", np.arange(total, total + n, dtype=np.float64))
            total += n
            w.flush()
        # Points still waiting are not in the store: a ranged read sees the store only.
        w.log("v", -1.0)
        whole = _values(read_run(run, 2))
        assert whole == [float(v) for v in range(total)]
        for start, limit in ranges:
            end = total if limit is None else min(start + limit, total)
            assert _values(read_run(run, 2, start=start, limit=limit)) == whole[start:end]


def test_ranged_read_arguments_are_checked(tmp_path: Path) -> None:
    with MetricWriter(tmp_path, background=False) as w:
        w.log("v", 1.0)
    with pytest.raises(errors.InvalidArgumentError, match="give rank="):
        read_run(tmp_path, start=1)
    with pytest.raises(errors.InvalidArgumentError, match="start must be a count of rows"):
        read_run(tmp_path, 0, start=-1)
    with pytest.raises(errors.InvalidArgumentError, match="limit must be a count of rows"):
        read_run(tmp_path, 0, limit=-5)
    with pytest.raises(errors.InvalidArgumentError, match="rank -1"):
        read_run(tmp_path, -1)
    assert _values(read_run(tmp_path, 0, start=0, limit=0)) == []
    assert _values(read_run(tmp_path, 0, start=5)) == []
    assert _values(read_run(tmp_path, 0, limit=9)) == [1.0]


_PEAK = textwrap.dedent(
    """
    import re, sys
    import pyarrow as pa
    from ferrotrack.core._native import read_run

    def kib(key):
        return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))

    # pyarrow sets itself up on its first table (pyarrow 25: ~50 MB of arenas and
    # kernels); do that with one point, so that the peak below is the range's own.
    pa.table(read_run(sys.argv[1], 0, start=0, limit=1))
    # Reset the peak (VmHWM) to the resident size now, after the imports.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = kib("VmRSS")
    kw = {} if sys.argv[2] == "whole" else {"start": 3_000_000, "limit": 50_000}
    t = pa.table(read_run(sys.argv[1], 0, **kw))
    assert t.num_rows == (4_000_000 if sys.argv[2] == "whole" else 50_000), t.num_rows
    if sys.argv[2] != "whole":
        assert t.column("value")[0].as_py() == 3_000_000.0
    print((kib("VmHWM") - base) * 1024)
    """
)


@pytest.mark.slow
def test_a_range_costs_memory_for_the_range_not_the_rank(tmp_path: Path) -> None:
    with MetricWriter(tmp_path, background=False) as w:
        for chunk in range(8):
            w.log_array("v", np.arange(chunk * 500_000, (chunk + 1) * 500_000, dtype=np.float64))
            w.flush()

    def peak(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _PEAK, str(tmp_path), mode],
            check=True,
            capture_output=True,
            text=True,
        )
        return int(out.stdout.strip())

    whole, ranged = peak("whole"), peak("range")
    # The whole rank decodes 4 M points (~110 MB); the range at most one row group of one
    # segment (500,000 points here) and keeps its own 50,000.
    assert whole > 80_000_000, whole
    assert ranged < 30_000_000, (ranged, whole)
    print(f"peak RSS over baseline: whole rank {whole / 1e6:.0f} MB, range {ranged / 1e6:.0f} MB")
