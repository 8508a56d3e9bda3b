"""The native MetricWriter claims its rank: one writer per (run, rank), across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ferrotrack.core import errors
from ferrotrack.core._native import MetricWriter

MAX_RANK = (1 << 20) - 1


def test_a_rank_held_by_an_open_writer_is_refused_until_it_closes(tmp_path: Path) -> None:
    first = MetricWriter(tmp_path, background=False)
    with pytest.raises(errors.RankInUseError) as caught:
        MetricWriter(tmp_path, background=False)
    message = str(caught.value)
    assert f"rank 0 of run {tmp_path.name}" in message
    assert "rank=, RANK or LOCAL_RANK" in message
    assert (tmp_path / ".locks" / "rank-0").is_file()
    first.log("x", 1.0)
    first.close()
    with MetricWriter(tmp_path, background=False) as again:
        assert again.rank == 0
        assert again.summary()["x"]["count"] == 1


def test_rank_none_takes_the_lowest_free_rank_from_one(tmp_path: Path) -> None:
    zero = MetricWriter(tmp_path, background=False)
    one = MetricWriter(tmp_path, rank=None, background=False)
    three = MetricWriter(tmp_path, rank=3, background=False)
    two = MetricWriter(tmp_path, rank=None, background=False)
    four = MetricWriter(tmp_path, rank=None, background=False)
    assert [w.rank for w in (zero, one, two, three, four)] == [0, 1, 2, 3, 4]
    one.close()
    again = MetricWriter(tmp_path, rank=None, background=False)
    assert again.rank == 1
    for w in (zero, two, three, four, again):
        w.close()


def test_a_writer_left_open_is_given_back_when_dropped(tmp_path: Path) -> None:
    writer = MetricWriter(tmp_path, background=False)
    del writer
    MetricWriter(tmp_path, background=False).close()


@pytest.mark.parametrize("rank", [-1, MAX_RANK + 1, 2**20, 2**63, 2**70, -(2**70)])
def test_a_rank_out_of_range_names_the_rank_and_the_range(tmp_path: Path, rank: int) -> None:
    with pytest.raises(errors.InvalidArgumentError) as caught:
        MetricWriter(tmp_path, rank=rank, background=False)
    assert f"rank {rank}" in str(caught.value)
    assert f"0 to {MAX_RANK}" in str(caught.value)
    assert not (tmp_path / "metrics").exists(), "nothing created for a refused rank"


@pytest.mark.parametrize("rank", ["1", 1.0])
def test_a_rank_that_is_not_an_int_is_refused(tmp_path: Path, rank: object) -> None:
    with pytest.raises(errors.InvalidArgumentError, match="rank: expected an int or None"):
        MetricWriter(tmp_path, rank=rank, background=False)  # type: ignore[arg-type]


def test_the_highest_rank_is_accepted(tmp_path: Path) -> None:
    with MetricWriter(tmp_path, rank=MAX_RANK, background=False) as w:
        assert w.rank == MAX_RANK


_HOLDER = textwrap.dedent(
    """
    import sys
    from ferrotrack.core._native import MetricWriter
    w = MetricWriter(sys.argv[1], rank=int(sys.argv[2]))
    w.log("held", 1.0)
    print("ready", flush=True)
    sys.stdin.read()
    """
)


@pytest.mark.slow
def test_another_process_holds_its_rank_until_it_dies(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path), "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(errors.RankInUseError, match="rank 2"):
            MetricWriter(tmp_path, rank=2, background=False)
        # Ranks 1 and 3 are free; an attaching writer skips the held one.
        with MetricWriter(tmp_path, rank=None, background=False) as w:
            assert w.rank == 1
            with MetricWriter(tmp_path, rank=None, background=False) as w3:
                assert w3.rank == 3
        child.kill()
        child.wait(timeout=30)
        # The kernel dropped the dead process's lock: its successor resumes the rank.
        with MetricWriter(tmp_path, rank=2, background=False) as w:
            assert w.rank == 2
    finally:
        child.kill()
        child.wait(timeout=30)
