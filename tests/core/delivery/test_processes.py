"""Defect 8: several processes of one run, each with backends, deliver every point once.

Before, each process rewrote the shared ``sync/<backend>.json`` and delivered every rank of
the store at close, so a point reached a backend once per process (and ``sync`` again).
"""

from __future__ import annotations

import collections
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from ferrotrack.core.delivery.replay import replay
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

from .conftest import FAST

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import ferrotrack.core as ft
    from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

    class Counting(BackendPlugin):
        @classmethod
        def get_metadata(cls):
            return PluginMetadata(name="counting", type=PluginType.BACKEND)

        def handle_points(self, batch, rank):
            names = batch.column("name").to_pylist()
            steps = batch.column("step").to_pylist()
            with open(sys.argv[4], "a") as f:
                f.writelines(f"{rank} {n} {s}\\n" for n, s in zip(names, steps))

    root, rank, points = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    run = ft.start_run(
        "two", experiment="e", root=root, run_id="two-procs", rank=rank,
        resume=rank > 0, backends=[Counting()],
    )
    for i in range(points):
        run.log(f"r{rank}/x", float(i), step=i)
    run.flush()
    print("ready", flush=True)
    if rank == 0:
        sys.stdin.readline()  # the other rank logs and finishes meanwhile
        for i in range(points, points + 500):
            run.log(f"r{rank}/x", float(i), step=i)
    run.finish()
    """
)


class Counting(BackendPlugin):
    def __init__(self, out: Path) -> None:
        super().__init__()
        self.out = out

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        return PluginMetadata(name="counting", type=PluginType.BACKEND)

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        names = batch.column("name").to_pylist()
        steps = batch.column("step").to_pylist()
        with self.out.open("a") as f:
            f.writelines(f"{rank} {n} {s}\n" for n, s in zip(names, steps, strict=True))


@pytest.mark.slow
def test_two_live_ranks_and_a_sync_deliver_each_point_once(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / "delivered.txt"
    root = tmp_path / "store"

    def child(rank: int, points: int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, str(script), str(root), str(rank), str(points), str(out)],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    first = child(0, 1000)
    assert first.stdout is not None
    assert first.stdin is not None
    assert first.stdout.readline().strip() == "ready"  # rank 0 flushed 1000 points
    second = child(1, 700)
    out_second, _ = second.communicate(timeout=120)
    assert second.returncode == 0, out_second
    first.stdin.write("go\n")
    first.stdin.flush()
    first.communicate(timeout=120)
    assert first.returncode == 0

    lines = out.read_text().splitlines()
    counts = collections.Counter(lines)
    assert [line for line, n in counts.items() if n > 1] == []
    want = {f"0 r0/x {i}" for i in range(1500)} | {f"1 r1/x {i}" for i in range(700)}
    assert set(counts) == want

    run_dir = root / "experiment=e" / "run=two-procs"
    cursors = sorted(p.name for p in (run_dir / "sync" / "counting").glob("rank-*.json"))
    assert cursors == ["rank-0.json", "rank-1.json"]
    report = replay(run_dir, Counting(out), options=FAST)
    assert report.points_sent == 0
    assert report.live_ranks == []
    assert len(out.read_text().splitlines()) == len(lines)
