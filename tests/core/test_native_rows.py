"""``MetricWriter.rows``: the points of its rank so far, the row index of the next point."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferrotrack.core._native import MetricWriter, read_run


def test_rows_counts_stored_written_and_waiting_points_across_a_resume(tmp_path: Path) -> None:
    with MetricWriter(tmp_path, background=False) as w:
        assert w.rows == 0
        w.log("a", 1.0)
        w.log({"b": 1.0, "c": 2.0}, step=3)
        assert w.rows == 3, "waiting points count"
        w.flush()
        assert w.rows == 3, "a flush moves points, it does not add any"
        w.log_array("d", np.arange(10.0))
        assert w.rows == 13
    with MetricWriter(tmp_path, rank=1, background=False) as other:
        other.log("a", 1.0)
        assert other.rows == 1, "each rank counts its own points"
    resumed = MetricWriter(tmp_path, background=False)
    assert resumed.rows == 13 == len(read_run(tmp_path, 0))
    resumed.subscribe()
    first = resumed.rows
    resumed.log_array("d", np.arange(5.0))
    resumed.flush()
    got = resumed.next_flushed(0.0)
    assert got is not None
    assert got[0] == first, "rows before a flush is the first_row of the flushed batch"
    assert resumed.rows == first + got[1].num_rows == 18
    resumed.close()
    assert resumed.rows == 18, "still readable after close"
