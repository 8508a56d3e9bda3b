"""Defect 11: reading a run while it is written never fails because of a flush or a
compaction (a compaction deletes the files it merged, maybe between the reader listing the
segments and reading them), and what a reader sees never shrinks."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

import ferrotrack.core as ft
from ferrotrack.core._native import MetricWriter
from ferrotrack.core.store.layout import new_run_id, run_dir


@pytest.mark.slow
def test_a_reader_looping_on_a_compacting_writer_never_fails(tmp_path: Path) -> None:
    store = tmp_path / "store"
    folder = run_dir(store, "live", new_run_id())
    writer = MetricWriter(folder, flush_interval=0.01, compact_small_rows=4096, compact_fanin=2)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        step = 0
        while not stop.is_set():
            for _ in range(50):
                writer.log("loss", 1.0, step=step)
                writer.log("acc", 0.5, step=step)
                step += 1
            written[0] = step
            time.sleep(0.001)  # let flushes and compactions interleave with the reads

    thread = threading.Thread(target=write, name="writer")
    thread.start()
    run_id = folder.name.removeprefix("run=")
    queries: dict[
        str, Callable[[], pl.LazyFrame]
    ] = {  # a filter on points, and one on files only (decided per file)
        "by name": lambda: ft.metrics(store, experiment="live", names=["loss"]),
        "by run": lambda: ft.metrics(store).filter(pl.col("run_id") == run_id),
    }
    counts: dict[str, list[int]] = {q: [] for q in queries}
    errors: list[BaseException] = []
    deadline = time.monotonic() + 3.0
    try:
        while time.monotonic() < deadline:
            for label, query in queries.items():
                try:
                    frame = query().collect()
                except Exception as exc:  # recorded, then asserted on: the test's subject
                    errors.append(exc)
                    continue
                counts[label].append(frame.height)
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert errors == []
    for label, seen in counts.items():
        assert len(seen) > 10, label
        assert all(a <= b for a, b in itertools.pairwise(seen)), f"{label}: count went down"
    final = ft.metrics(store, experiment="live", names=["loss"]).collect()
    assert final.height == written[0]
    assert final["step"].n_unique() == final.height  # each point once
