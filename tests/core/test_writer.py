"""The native MetricWriter: round trips, threads, bad input, export."""

from __future__ import annotations

import array
import math
import struct
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.core import MetricWriter, errors
from ferrotrack.core._native import read_run

Point = tuple[str, int, float]


class ArrowStream(Protocol):
    """What ``read_back`` reads: anything exporting an Arrow C stream."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...


def bits(x: float) -> int:
    """Compares floats bit for bit, so NaN equals NaN."""
    result: int = struct.unpack("<q", struct.pack("<d", x))[0]
    return result


def per_name(points: list[Point]) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for name, step, value in points:
        out[name].append((step, bits(value)))
    return dict(out)


def read_back(source: ArrowStream) -> list[Point]:
    df = pl.DataFrame(source)
    return list(
        zip(
            df["name"].cast(pl.String).to_list(),
            df["step"].to_list(),
            df["value"].to_list(),
            strict=True,
        )
    )


names = st.sampled_from(["loss", "val/acc", "ünïcødé/λ", "🦀", "a" * 1024]) | st.text(
    min_size=1, max_size=20
).filter(lambda s: "\0" not in s)
values = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**40), 2**40)
steps = st.none() | st.integers(-(2**40), 2**40)


@given(st.lists(st.tuples(names, steps, values), max_size=200), st.booleans())
def test_what_is_logged_reads_back_in_order_per_name(
    tmp_path_factory: pytest.TempPathFactory,
    calls: list[tuple[str, int | None, float]],
    flush: bool,
) -> None:
    run = tmp_path_factory.mktemp("run")
    w = MetricWriter(run, background=False)
    expected: list[Point] = []
    next_step: dict[str, int] = {}
    for i, (name, step, value) in enumerate(calls):
        w.log(name, value, step)
        s = next_step.get(name, 0) if step is None else step
        next_step[name] = s + 1
        expected.append((name, s, float(value)))
        if flush and i % 17 == 0:
            w.flush()
    assert per_name(read_back(w)) == per_name(expected)
    w.close()
    assert per_name(read_back(read_run(run))) == per_name(expected)
    assert per_name(read_back(pa.table(w))) == per_name(expected)


@given(st.lists(st.dictionaries(names, values, min_size=1, max_size=5), max_size=40), steps)
def test_log_many_and_mappings_share_one_step(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, float]], step: int | None
) -> None:
    run = tmp_path_factory.mktemp("run")
    with MetricWriter(run, background=False) as w:
        for i, row in enumerate(rows):
            if i % 2:
                w.log_many(row, step=step)
            else:
                w.log(row, step=step)
    back = per_name(read_back(read_run(run)))
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        for name in row:
            counts[name] += 1
    assert {n: len(v) for n, v in back.items()} == dict(counts)
    if step is not None:
        assert all(s == step for pts in back.values() for s, _ in pts)


@given(
    st.lists(st.floats(allow_nan=True), min_size=1, max_size=500),
    st.sampled_from(["float64", "float32", "int64", "int32", "uint8"]),
)
def test_log_array_takes_numeric_buffers_without_a_loop(
    tmp_path_factory: pytest.TempPathFactory, data: list[float], dtype: str
) -> None:
    run = tmp_path_factory.mktemp("run")
    arr = np.asarray(data, dtype=np.float64)
    if dtype.startswith(("int", "uint")):
        arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0).clip(0, 200)
    with np.errstate(over="ignore", invalid="ignore"):
        typed = arr.astype(dtype)
    with MetricWriter(run, background=False) as w:
        w.log("x", 1.0)
        w.log_array("x", typed)
        w.log_array("y", typed, steps=np.arange(len(typed)) * 10)
    back = per_name(read_back(read_run(run)))
    expected_values = [bits(float(v)) for v in typed.astype(np.float64)]
    assert [b for _, b in back["x"][1:]] == expected_values
    assert [s for s, _ in back["x"]] == list(range(len(typed) + 1))
    assert [s for s, _ in back["y"]] == [10 * i for i in range(len(typed))]


def test_log_array_accepts_array_module_lists_and_strided_views(tmp_path: Path) -> None:
    with MetricWriter(tmp_path / "run", background=False) as w:
        w.log_array("a", array.array("d", [1.0, 2.0]))
        w.log_array("b", [3, 4.5])
        w.log_array("c", np.arange(10, dtype=np.float64)[::3])
    back = per_name(read_back(read_run(tmp_path / "run")))
    assert [b for _, b in back["a"]] == [bits(1.0), bits(2.0)]
    assert [b for _, b in back["b"]] == [bits(3.0), bits(4.5)]
    assert [b for _, b in back["c"]] == [bits(v) for v in (0.0, 3.0, 6.0, 9.0)]


class ArrayOnly:
    """An array type that is no buffer and speaks only ``__array__`` (as many do)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        return self.values


class NarrowTensor:
    """Speaks DLPack in a dtype numpy cannot take, and widens itself with ``float()``,
    as a bfloat16 PyTorch tensor does."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def __dlpack__(self, **_: object) -> object:
        raise BufferError("Unsupported dtype in DLTensor.")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (1, 0)

    def float(self) -> np.ndarray:
        return self.values.astype(np.float32)


@given(st.lists(st.floats(allow_nan=True, width=32), min_size=1, max_size=200))
def test_log_array_takes_arrays_that_are_not_buffers(
    tmp_path_factory: pytest.TempPathFactory, data: list[float]
) -> None:
    """pyarrow (DLPack), polars (``__array__``), a bare ``__array__`` type and a tensor
    that must widen: each read as numbers in one go, steps too."""
    run = tmp_path_factory.mktemp("run")
    values = np.asarray(data, dtype=np.float32)
    steps = np.arange(len(values), dtype=np.int64) * 3
    sources = {
        "pyarrow": (pa.array(values), pa.array(steps)),
        "polars": (pl.Series(values), pl.Series(steps)),
        "array": (ArrayOnly(values), ArrayOnly(steps)),
        "narrow": (NarrowTensor(values), steps),
    }
    with MetricWriter(run, background=False) as w:
        for name, (vals, stps) in sources.items():
            w.log_array(name, vals, steps=stps)
    back = per_name(read_back(read_run(run)))
    expected = [(3 * i, bits(float(v))) for i, v in enumerate(values)]
    assert {name: back[name] for name in sources} == dict.fromkeys(sources, expected)


def test_an_array_that_cannot_be_read_is_refused_by_name(tmp_path: Path) -> None:
    class Broken:
        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            raise RuntimeError("device lost")

    with MetricWriter(tmp_path / "run", background=False) as w:
        w.log("kept", 1.0)
        with pytest.raises(
            errors.InvalidArgumentError, match=r"log_array\('x'\) values: .*Broken.*device lost"
        ):
            w.log_array("x", Broken())
        with pytest.raises(errors.InvalidArgumentError, match="one-dimensional"):
            w.log_array("x", ArrayOnly(np.zeros((2, 2))))
    assert read_back(read_run(tmp_path / "run")) == [("kept", 0, 1.0)]


def test_polars_and_pyarrow_read_the_export_without_ferrotrack_code(tmp_path: Path) -> None:
    with MetricWriter(tmp_path / "run", background=False) as w:
        w.log_array("x", np.arange(1000, dtype=np.float64))
    # polars >= 2 turns any Arrow stream into a struct Series; unnesting gives the frame.
    series = pl.from_arrow(w)
    frame = series.struct.unnest() if isinstance(series, pl.Series) else series
    assert frame.columns == ["name", "step", "timestamp", "value"]
    assert frame["value"].sum() == sum(range(1000))
    table = pa.table(w)
    assert table.schema.field("name").type == pa.dictionary(pa.uint32(), pa.utf8())
    assert table.schema.field("timestamp").type == pa.timestamp("ns", tz="UTC")
    assert table.num_rows == 1000


def test_segments_tell_polars_that_names_are_categorical(tmp_path: Path) -> None:
    """The field metadata that lets polars read name codes without decoding strings."""
    import pyarrow.parquet as pq

    with MetricWriter(tmp_path / "run", background=False) as w:
        w.log({"a": 1.0, "b": 2.0})
    (segment,) = (tmp_path / "run" / "metrics").glob("*.parquet")
    field = pq.read_schema(segment).field("name")
    assert (field.metadata or {}).get(b"_PL_CATEGORICAL2") == b"0;0;u32;"
    frame = pl.read_parquet(segment)
    assert frame.schema["name"] == pl.Categorical()
    assert frame["name"].cast(pl.String).to_list() == ["a", "b"]


def test_special_floats_round_trip_exactly(tmp_path: Path) -> None:
    specials = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
    with MetricWriter(tmp_path / "run", background=False) as w:
        for v in specials:
            w.log("s", v)
        summary = w.summary()["s"]
    assert [bits(v) for _, _, v in read_back(read_run(tmp_path / "run"))] == [
        bits(v) for v in specials
    ]
    assert summary["nan_count"] == 1
    assert summary["min"] == -math.inf
    assert summary["max"] == math.inf


def test_threads_logging_at_once_lose_nothing(tmp_path: Path) -> None:
    n, threads = 100_000, 8
    w = MetricWriter(tmp_path / "run", flush_interval=0.01, max_rows=20_000)

    def work(t: int) -> None:
        name = f"thread/{t}"
        for i in range(n):
            w.log(name, float(i))

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    w.close()
    df = pl.DataFrame(read_run(tmp_path / "run"))
    assert df.height == n * threads
    ordered = df.group_by("name", maintain_order=True).agg(
        (pl.col("step").diff().drop_nulls() == 1).all().alias("steps_in_order"),
        (pl.col("value") == pl.col("step").cast(pl.Float64)).all().alias("values_match"),
        pl.len(),
    )
    assert ordered["steps_in_order"].all()
    assert ordered["values_match"].all()
    assert set(ordered["len"].to_list()) == {n}


def test_memory_cap_makes_log_flush_instead_of_growing(tmp_path: Path) -> None:
    w = MetricWriter(tmp_path / "run", background=False, memory_cap_bytes=28 * 1000)
    for i in range(10_500):
        w.log("x", float(i))
    stats = w.stats()
    assert stats["pending"] <= 1000
    assert stats["segments_written"] >= 10
    w.close()
    assert pl.DataFrame(read_run(tmp_path / "run")).height == 10_500


def test_timestamps_given_as_seconds_or_nanoseconds(tmp_path: Path) -> None:
    with MetricWriter(tmp_path / "run", background=False) as w:
        w.log("t", 1.0, timestamp=1_700_000_000.5)
        w.log("t", 2.0, timestamp=1_700_000_001_000_000_000)
        w.log("t", 3.0)
    df = pl.DataFrame(w)
    ns = df["timestamp"].dt.epoch("ns").to_list()
    assert ns[:2] == [1_700_000_000_500_000_000, 1_700_000_001_000_000_000]
    assert ns[2] > ns[1]
    assert str(df.schema["timestamp"]) == "Datetime(time_unit='ns', time_zone='UTC')"


# --- bad input: a typed error naming what was wrong, and nothing logged is lost ---


@pytest.fixture
def writer(tmp_path: Path) -> MetricWriter:
    w = MetricWriter(tmp_path / "run", background=False)
    w.log("kept", 1.0)
    w.log_array("kept", np.array([2.0, 3.0]))
    return w


def assert_nothing_lost(w: MetricWriter) -> None:
    if not w.closed:
        w.close()
    assert [v for _, _, v in read_back(w)] == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("value", "type_name"), [("0.5", "str"), (None, "NoneType"), ([1.0], "list"), (b"1", "bytes")]
)
def test_a_non_numeric_value_names_the_metric_and_the_type(
    writer: MetricWriter, value: object, type_name: str
) -> None:
    with pytest.raises(TypeError, match=rf"metric 'loss'.*got {type_name}") as info:
        writer.log("loss", value)  # type: ignore[arg-type]
    assert isinstance(info.value, errors.InvalidValueError)
    assert_nothing_lost(writer)


def test_a_mapping_with_one_bad_value_logs_none_of_it(writer: MetricWriter) -> None:
    with pytest.raises(TypeError, match="metric 'b'"):
        writer.log({"a": 1.0, "b": "x"})  # type: ignore[dict-item]
    assert "a" not in writer.summary()
    assert_nothing_lost(writer)


def test_a_refused_row_leaves_automatic_steps_alone(tmp_path: Path) -> None:
    w = MetricWriter(tmp_path / "run", background=False)
    w.log({"a": 1.0, "b": 2.0})
    with pytest.raises(TypeError, match="metric 'b'"):
        w.log({"a": 5.0, "b": "x"})  # type: ignore[dict-item]
    w.log({"b": 3.0, "a": 4.0})
    w.close()
    assert sorted(read_back(w)) == [("a", 0, 1.0), ("a", 1, 4.0), ("b", 0, 2.0), ("b", 1, 3.0)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda log: log(), "missing required argument 'name'"),
        (lambda log: log("a", 1.0, 2, 3, 4), "at most 4 arguments"),
        (lambda log: log("a", 1.0, stpe=1), "unexpected keyword argument 'stpe'"),
        (lambda log: log("a", 1.0, 2, step=3), "multiple values for argument 'step'"),
        (lambda log: log("a", 1.0, step="3"), "step must be an int or None, got str"),
        (lambda log: log({"a": 1.0}, step=1.5), "step must be an int or None, got float"),
    ],
)
def test_log_arguments_are_bound_like_a_python_function(
    writer: MetricWriter, call: Callable[[Any], None], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        call(writer.log)
    assert_nothing_lost(writer)


def test_log_takes_its_arguments_by_position_or_by_keyword(tmp_path: Path) -> None:
    w = MetricWriter(tmp_path / "run", background=False)
    w.log("a", 1.0, 5)
    w.log("a", value=2.0, step=6)
    w.log(name="a", value=3.0, step=None, timestamp=1_000)
    w.log({"b": 4.0}, 2)
    w.log({"b": 5.0}, step=None)
    w.close()
    assert read_back(w) == [
        ("a", 5, 1.0),
        ("a", 6, 2.0),
        ("a", 7, 3.0),
        ("b", 2, 4.0),
        ("b", 3, 5.0),
    ]


@pytest.mark.parametrize(
    ("name", "reason"), [("", "must not be empty"), ("x" * 1025, "at most 1024")]
)
def test_bad_names_raise_value_error(writer: MetricWriter, name: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        writer.log(name, 1.0)
    assert isinstance(info.value, errors.InvalidMetricError)
    assert_nothing_lost(writer)


def test_log_after_close_is_refused(writer: MetricWriter) -> None:
    writer.close()
    calls: tuple[Callable[[], None], ...] = (
        lambda: writer.log("kept", 4.0),
        lambda: writer.log({"kept": 4.0}),
        lambda: writer.log_array("kept", [4.0]),
    )
    for call in calls:
        with pytest.raises(errors.RunClosedError, match="closed"):
            call()
    assert_nothing_lost(writer)


def test_arrays_of_different_lengths_are_refused(writer: MetricWriter) -> None:
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        writer.log_array("kept", np.zeros(3), steps=np.arange(2))
    assert_nothing_lost(writer)


@pytest.mark.parametrize(
    "values",
    [np.array(["a", "b"]), np.array([object(), 1], dtype=object), np.zeros((2, 2)), "12", [1, "x"]],
)
def test_non_numeric_or_multidimensional_arrays_are_refused(
    writer: MetricWriter, values: object
) -> None:
    with pytest.raises(ValueError, match="log_array"):
        writer.log_array("kept", values)
    assert_nothing_lost(writer)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="every_flush"):
        MetricWriter(tmp_path / "a", durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="flush_interval"):
        MetricWriter(tmp_path / "b", flush_interval=0)
