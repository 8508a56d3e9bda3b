"""The native event-file writer and reader (crates/ferrotrack-tb through the binding):
a round trip of any points, a write failing part way cut back so the retry writes once,
and damaged files read up to and past the damage."""

from __future__ import annotations

import errno
import resource
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferrotrack.backends.tensorboard import TensorboardBackend
from ferrotrack.core._native import TensorboardFile, read_tensorboard
from ferrotrack.core.plugins.arrow import point_schema
from ferrotrack.core.records import RunInfo

HERE = str(Path(__file__).parent)
if HERE not in sys.path:  # --import-mode=importlib: the helper is not importable else
    sys.path.insert(0, HERE)
from tensorboard_fixtures import WALL_NS, as_float32, ea_scalars, same_value  # noqa: E402

T0 = 1_750_000_000_000_000_000


def batch_of(
    names: list[str], steps: list[int], stamps: list[int], values: list[float]
) -> pa.RecordBatch:
    encoded = pa.array(names, pa.string()).dictionary_encode()
    name = pa.DictionaryArray.from_arrays(encoded.indices.cast(pa.uint32()), encoded.dictionary)
    return pa.RecordBatch.from_arrays(
        [
            name,
            pa.array(steps, pa.int64()),
            pa.array(stamps, pa.timestamp("ns", tz="UTC")),
            pa.array(values, pa.float64()),
        ],
        schema=point_schema(),
    )


POINT = st.tuples(
    st.sampled_from(["loss", "acc", "ünï/cödé ✓", "a b", ""]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=0, max_value=2**31 * 10**9 - 1),  # up to 2038: the 120 ns bound
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(POINT, max_size=80), min_size=1, max_size=4), st.booleans())
def test_any_points_round_trip(
    tmp_path_factory: pytest.TempPathFactory,
    batches: list[list[tuple[str, int, int, float]]],
    f64: bool,
) -> None:
    path = tmp_path_factory.mktemp("tb") / "events.out.tfevents.1.test"
    file = TensorboardFile(path, float64=f64, wall_time=T0)
    for points in batches:
        if points:
            file.write_points(batch_of(*map(list, zip(*points, strict=True))))
    file.close()
    read = read_tensorboard([path])
    table = pa.table(read["points"])
    everything = [p for b in batches for p in b]
    assert table.num_rows == len(everything)
    assert read["damage"] == []
    names = table.column("name").to_pylist()
    steps = table.column("step").to_pylist()
    stamps = table.column("timestamp").to_pylist()
    values = table.column("value").to_pylist()
    for i, (n, s, t, v) in enumerate(everything):
        assert (names[i], steps[i]) == (n, s)
        assert abs(stamps[i] - t) <= WALL_NS
        assert same_value(values[i], v if f64 else as_float32(v))


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Lets a test lower RLIMIT_FSIZE (writes past it fail with EFBIG, part way), then
    puts the limit back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    signal.signal(signal.SIGXFSZ, old)


def test_a_write_failing_part_way_is_cut_back_so_the_retry_writes_once(
    tmp_path: Path, file_size_limit: None
) -> None:
    mirror = TensorboardBackend()
    mirror.initialize({"logdir": tmp_path / "tb"})
    mirror.open_run(RunInfo("e", "r1", "n", tmp_path, started=T0), {})
    first = batch_of(["x"] * 10, list(range(10)), [T0] * 10, [1.0] * 10)
    mirror.handle_points(first, 0)
    (path,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    size = path.stat().st_size
    batch = batch_of(
        ["x"] * 1000, list(range(10, 1010)), [T0] * 1000, list(map(float, range(1000)))
    )
    _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 5000, hard))  # room for part of it
    with pytest.raises(OSError, match=r"backend 'tensorboard' cannot write .* for run r1") as err:
        mirror.handle_points(batch, 0)
    assert err.value.errno == errno.EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, hard))
    assert path.stat().st_size == size, "the part written was cut back"
    mirror.handle_points(batch, 0)  # delivery's retry
    mirror.stop()
    got = ea_scalars(tmp_path / "tb")["x"]
    assert [s for s, _, _ in got] == list(range(1010))


def events_file(tmp_path: Path, n: int) -> tuple[Path, list[int]]:
    """A file of ``n`` points (steps 0..n) and where each record starts."""
    path = tmp_path / "events.out.tfevents.1.test"
    file = TensorboardFile(path, wall_time=T0)
    starts = []
    for step in range(n):
        starts.append(path.stat().st_size)
        file.write_points(batch_of(["x"], [step], [T0 + step], [float(step)]))
    file.close()
    return path, starts


def test_a_truncated_file_keeps_every_whole_record(tmp_path: Path) -> None:
    path, starts = events_file(tmp_path, 20)
    data = path.read_bytes()
    path.write_bytes(data[: starts[15] + 7])
    read = read_tensorboard([path])
    assert pa.table(read["points"]).column("step").to_pylist() == list(range(15))
    assert [(p, o) for p, o, _, _ in read["damage"]] == [(path, starts[15])]
    assert "cut short" in read["damage"][0][2]


def test_a_corrupt_record_is_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    path, starts = events_file(tmp_path, 20)
    data = bytearray(path.read_bytes())
    data[starts[7] + 20] ^= 0xFF  # inside record 7's data: its CRC no longer matches
    data[starts[12] + 2] ^= 0xFF  # record 12's length: found again by scanning
    path.write_bytes(bytes(data))
    read = read_tensorboard([path])
    steps = pa.table(read["points"]).column("step").to_pylist()
    assert steps == [s for s in range(20) if s not in (7, 12)]
    assert [o for _, o, _, _ in read["damage"]] == [starts[7], starts[12]]
    assert read["damage"][0][3] == starts[8] - starts[7], "bytes skipped"


def test_bad_batches_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    from ferrotrack.core.errors import InvalidArgumentError

    path = tmp_path / "events.out.tfevents.1.test"
    file = TensorboardFile(path, wall_time=T0)
    size = path.stat().st_size
    no_value = pa.record_batch({"name": ["x"], "step": [1], "timestamp": [T0]})
    with pytest.raises(InvalidArgumentError, match='no column "value"'):
        file.write_points(no_value)
    ints = pa.record_batch({"name": ["x"], "step": [1], "timestamp": [T0], "value": [1]})
    with pytest.raises(InvalidArgumentError, match='column "value": float64 expected'):
        file.write_points(ints)
    assert path.stat().st_size == size
    # Plain strings and int64 timestamps are taken as well.
    plain = pa.record_batch({"name": ["y"], "step": [2], "timestamp": [T0], "value": [0.5]})
    file.write_points(plain)
    file.close()
    table = pa.table(read_tensorboard([path])["points"])
    assert table.to_pylist() == [{"name": "y", "step": 2, "timestamp": T0, "value": 0.5}]
