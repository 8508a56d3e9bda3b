"""Bad input on the logging path gets a typed error that says what was wrong (defect 13),
and a value whose ``__float__`` logs to the same run never hangs (defect 12)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ferrotrack.core import errors
from ferrotrack.core._native import MetricWriter, read_run

Call = Callable[[Any], object]  # Any: the calls pass wrong types on purpose

# Every way a value reaches the writer, with every way a __float__ can use the writer again;
# the run in a child process, so that a hang fails the test instead of stopping the suite.
_REENTRANT = textwrap.dedent(
    """
    import json, sys, threading
    import ferrotrack.core as ft

    run = ft.start_run(root=sys.argv[1])
    results = {}

    class Reentrant:
        def __init__(self, action):
            self.action = action
        def __float__(self):
            self.action()
            return 2.0

    actions = {
        "log": lambda: run.log("inner", 1.0),
        "log_mapping": lambda: run.log({"inner": 1.0}),
        "log_array": lambda: run.log_array("inner", [1.0, 2.0]),
        "flush": lambda: run.flush(),
        # Another thread logs while this one waits for it (holding the GIL meanwhile
        # would be a deadlock if the lock were held too).
        "thread": lambda: (t := threading.Thread(target=lambda: run.log("inner", 1.0)),
                           t.start(), t.join()),
    }
    calls = {
        "log": lambda v: run.log("outer", v),
        "log_mapping": lambda v: run.log({"a": 1.0, "outer": v}, step=7),
        "log_many": lambda v: run._writer.log_many({"outer": v, "a": 1.0}),
        "log_array": lambda v: run.log_array("outer", [v, 3.0]),
    }
    for cname, call in calls.items():
        for aname, action in actions.items():
            before = run._writer.rows
            call(Reentrant(action))
            results[f"{cname}/{aname}"] = run._writer.rows - before
    run.finish()
    print(json.dumps(results))
    """
)


@pytest.mark.timeout(120)
def test_a_float_that_logs_to_the_same_run_never_hangs(tmp_path: Path) -> None:
    try:
        out = subprocess.run(
            [sys.executable, "-c", _REENTRANT, str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"a __float__ that logs to its own run hung: {e.stdout!r}")
    results: dict[str, int] = json.loads(out.stdout)
    assert len(results) == 20
    for key, rows in results.items():
        call, action = key.split("/")
        inner = {"log": 1, "log_mapping": 1, "log_array": 2, "flush": 0, "thread": 1}[action]
        outer = {"log": 1, "log_mapping": 2, "log_many": 2, "log_array": 2}[call]
        assert rows == inner + outer, key


class Failing:
    def __float__(self) -> float:
        raise RuntimeError("sensor offline")


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.log("v", Failing()),
        lambda w: w.log({"ok": 1.0, "v": Failing()}),
        lambda w: w.log_many({"v": Failing()}),
    ],
)
def test_a_float_that_raises_is_named_with_its_error_kept(tmp_path: Path, call: Call) -> None:
    with MetricWriter(tmp_path, background=False) as w:
        with pytest.raises(errors.InvalidValueError, match=r"metric 'v'.*Failing.*sensor offline"):
            call(w)
        assert w.rows == 0, "nothing of the row was logged"
    assert isinstance(_caught(tmp_path, call).__cause__, RuntimeError)


def _caught(tmp_path: Path, call: Call) -> BaseException:
    with MetricWriter(tmp_path / "again", background=False) as w:
        try:
            call(w)
        except errors.InvalidValueError as e:
            return e
    raise AssertionError("not refused")


BIG = 10**400

_BAD: list[tuple[str, Call, type[Exception], str]] = [
    # Numbers out of range say so, not "expected a number".
    ("big value", lambda w: w.log("v", BIG), errors.InvalidValueError,
     r"metric 'v': the int given \(1329 bits\) is out of float range"),
    ("big value in a mapping", lambda w: w.log({"v": BIG}), errors.InvalidValueError,
     "metric 'v': the int given .* is out of float range"),
    ("big value in log_many", lambda w: w.log_many({"v": -BIG}), errors.InvalidValueError,
     "out of float range"),
    ("big value in log_array", lambda w: w.log_array("v", [1.0, BIG]), errors.InvalidArgumentError,
     r"log_array\('v'\) values: item 1 \(an int of 1329 bits\) is out of float range"),
    # Names of the wrong type are blamed on the name, not on the step.
    ("int name", lambda w: w.log(1, 2.0), errors.InvalidMetricError,
     "a metric name must be a str .*got int 1"),
    ("bytes name", lambda w: w.log(b"loss", 2.0), errors.InvalidMetricError,
     "a metric name must be a str .*got bytes b'loss'"),
    ("int key", lambda w: w.log({1: 2.0}, 3), errors.InvalidMetricError,
     "metric names must be str, got int 1"),
    ("bytes key", lambda w: w.log({"ok": 1.0, b"x": 2.0}, step=3), errors.InvalidMetricError,
     "metric names must be str, got bytes b'x'"),
    ("bytes key in log_many", lambda w: w.log_many({b"x": 2.0}), errors.InvalidMetricError,
     "metric names must be str, got bytes"),
    ("int name in log_array", lambda w: w.log_array(3, [1.0]), errors.InvalidMetricError,
     "log_array: a metric name must be a str, got int 3"),
    ("str to log_many", lambda w: w.log_many("loss"), errors.InvalidArgumentError,
     "log_many: expected a mapping of metric names to numbers, got str"),
    # Steps and timestamps beyond int64 say so, not "must be an int".
    ("step 2**63", lambda w: w.log("v", 1.0, step=2**63), errors.InvalidArgumentError,
     r"log: step 9223372036854775808 is out of the int64 range"),
    ("step -2**63-1", lambda w: w.log("v", 1.0, -(2**63) - 1), errors.InvalidArgumentError,
     "log: step -9223372036854775809 is out of the int64 range"),
    ("mapping step 2**63", lambda w: w.log({"v": 1.0}, 2**63), errors.InvalidArgumentError,
     "log: step 9223372036854775808 is out of the int64 range"),
    ("huge step", lambda w: w.log({"v": 1.0}, step=BIG), errors.InvalidArgumentError,
     "log: step of 1329 bits is out of the int64 range"),
    ("log_many step", lambda w: w.log_many({"v": 1.0}, step=2**63), errors.InvalidArgumentError,
     "log_many: step 9223372036854775808 is out of the int64 range"),
    ("log_many float step", lambda w: w.log_many({"v": 1.0}, step=1.5), TypeError,
     "log_many: step must be an int or None, got float"),
    ("log_array steps", lambda w: w.log_array("v", [1.0, 2.0], [0, 2**63]),
     errors.InvalidArgumentError,
     r"log_array\('v'\) steps: item 1 \(an int 9223372036854775808\) is out of the int64 range"),
    ("log_array str step", lambda w: w.log_array("v", [1.0], ["0"]), errors.InvalidArgumentError,
     r"log_array\('v'\) steps: item 0 is a str, not a number"),
    ("timestamp 2**63 ns", lambda w: w.log("v", 1.0, timestamp=2**63), errors.InvalidArgumentError,
     "timestamp: 9223372036854775808 nanoseconds is out of the int64 range"),
    ("timestamp 1e300 s", lambda w: w.log("v", 1.0, timestamp=1e300), errors.InvalidArgumentError,
     "timestamp: 1e300 seconds is out of the range"),
    ("timestamp inf", lambda w: w.log("v", 1.0, timestamp=float("inf")),
     errors.InvalidArgumentError, "timestamp: inf seconds is out of the range"),
    ("timestamp str", lambda w: w.log("v", 1.0, timestamp="now"), errors.InvalidArgumentError,
     "timestamp: expected int nanoseconds or float seconds since the epoch, got str"),
    ("timestamp with a mapping", lambda w: w.log({"v": 1.0}, timestamp=5),
     errors.InvalidArgumentError, r"log\(mapping\): timestamp= is for one point"),
    # Names that cannot be stored name the metric.
    ("lone surrogate", lambda w: w.log("loss\ud800", 1.0), errors.InvalidMetricError,
     r"invalid metric name 'loss\\ud800': not valid Unicode text"),
    ("lone surrogate key", lambda w: w.log({"ok": 1.0, "x\udfff": 1.0}),
     errors.InvalidMetricError, r"invalid metric name 'x\\udfff'"),
    ("lone surrogate in log_array", lambda w: w.log_array("\ud800", [1.0]),
     errors.InvalidMetricError, "invalid metric name '\\\\ud800'"),
    ("NUL", lambda w: w.log("a\0b", 1.0), errors.InvalidMetricError,
     r"invalid metric name 'a\\0b': a metric name must not contain a NUL character"),
    ("NUL key", lambda w: w.log({"a\0": 1.0}), errors.InvalidMetricError, "NUL character"),
    ("NUL in log_array", lambda w: w.log_array("\0", np.ones(3)), errors.InvalidMetricError,
     "NUL character"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "error", "message"), [c[1:] for c in _BAD], ids=[c[0] for c in _BAD]
)
def test_bad_input_is_refused_saying_what_was_wrong(
    tmp_path: Path, call: Call, error: type[Exception], message: str
) -> None:
    with MetricWriter(tmp_path, background=False) as w:
        w.log("kept", 1.0)
        with pytest.raises(error, match=message):
            call(w)
        assert w.rows == 1, "a refused call logs nothing"
        w.log({"after": 1.0}, step=1)
    table = read_run(tmp_path)
    assert len(table) == 2


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.log("v", 2**60),
        lambda w: w.log("v", 1.0, step=2**63 - 1),
        lambda w: w.log("v", 1.0, step=-(2**63)),
        lambda w: w.log({"v": 2**60, "w": True}, step=2**63 - 1),
        lambda w: w.log("v", 1.0, timestamp=2**63 - 1),
        lambda w: w.log("v", 1.0, timestamp=-1.5),
        lambda w: w.log_array("v", [2**60], [2**63 - 1]),
        lambda w: w.log("v", np.float32(1.5), step=np.int64(3)),
        lambda w: w.log({"v": np.int64(7)}, np.uint8(3)),
    ],
)
def test_values_at_the_edges_of_the_ranges_are_kept(tmp_path: Path, call: Call) -> None:
    with MetricWriter(tmp_path, background=False) as w:
        call(w)
        assert w.rows >= 1


def test_str_subclass_names_and_values_log_like_plain_ones(tmp_path: Path) -> None:
    class Name(str):
        pass

    class Value(float):
        pass

    class Count(int):
        def __float__(self) -> float:
            return float(int(self)) + 0.5

    with MetricWriter(tmp_path, background=False) as w:
        for i in range(3):
            w.log(Name("a"), Value(i))
            w.log({Name("b"): Count(i)}, step=i)
    table: Any = read_run(tmp_path)
    import polars as pl

    df = pl.DataFrame(table).with_columns(pl.col("name").cast(pl.String))
    assert df.filter(pl.col("name") == "a")["value"].to_list() == [0.0, 1.0, 2.0]
    assert df.filter(pl.col("name") == "b")["value"].to_list() == [0.5, 1.5, 2.5]
