"""Run events: written crash-safe per rank, read back in order, as RunEvents or a DataFrame."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ferrotrack.core as ft
from ferrotrack.core import errors
from ferrotrack.core.errors import StoreCorruptWarning
from ferrotrack.core.records import RunEvent
from ferrotrack.core.store.events import _line, check_event, read_events

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
events_args = st.lists(
    st.fixed_dictionaries(
        {
            "kind": st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
            "message": st.none() | st.text(max_size=20),
            "name": st.none() | st.text(max_size=8),
            "level": st.none() | st.text(max_size=8),
            "step": st.none() | st.integers(-(2**63), 2**63 - 1),
            "data": st.dictionaries(st.text(max_size=4), json_values, max_size=3),
        }
    ),
    max_size=8,
)


@given(events_args)
def test_events_round_trip(
    tmp_path_factory: pytest.TempPathFactory, args: list[dict[str, Any]]
) -> None:
    root = tmp_path_factory.mktemp("store")
    with ft.start_run(root=root) as run:
        written = []
        for i, a in enumerate(args):
            run.log("x", float(i))
            kind = a.pop("kind")
            written.append(run.log_event(kind, **a))
    back = read_events(run.run_dir)
    assert back == written
    assert [e.seq for e in back] == list(range(len(args)))
    assert [e.rows for e in back] == list(range(1, len(args) + 1))


@given(events_args)
def test_each_line_is_the_json_the_format_specifies(args: list[dict[str, Any]]) -> None:
    """The hand-spelled line (flat data, the common case) is exactly what ``json.dumps``
    writes for the same object: same keys, same order, same escapes."""
    for seq, a in enumerate(args):
        fields = check_event(a["kind"], a["message"], a["name"], a["level"], a["step"], a["data"])
        event = RunEvent(rank=0, seq=seq, time=1_700_000_000_000_000_000 + seq, rows=seq, **fields)
        expected = {
            "seq": event.seq,
            "time": event.time,
            "rows": event.rows,
            "kind": event.kind,
            "name": event.name,
            "level": event.level,
            "step": event.step,
            "message": event.message,
            "data": event.data,
        }
        assert _line(event) == json.dumps(expected, separators=(",", ":"), allow_nan=False) + "\n"


def test_a_torn_last_line_is_skipped_and_the_next_event_starts_clean(root: Path) -> None:
    with ft.start_run() as run:
        run.log_event("checkpoint", "one")
        run.log_event("checkpoint", "two")
    path = run.run_dir / "events" / "rank-0.jsonl"
    with path.open("ab") as f:
        f.write(b'{"seq":2,"time":1,"kind":"chec')  # a crash in the middle of a write
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [e.message for e in read_events(run.run_dir)] == ["one", "two"]
    with ft.start_run(run_id=run.run_id, resume=True) as again:
        third = again.log_event("message", "three")
    assert third.seq == 2
    assert [e.message for e in read_events(run.run_dir)] == ["one", "two", "three"]


def test_a_corrupt_line_in_the_middle_is_skipped_with_a_warning(root: Path) -> None:
    with ft.start_run() as run:
        run.log_event("message", "a")
    path = run.run_dir / "events" / "rank-0.jsonl"
    path.write_bytes(path.read_bytes() + b"not json\n")
    with ft.start_run(run_id=run.run_id, resume=True) as again:
        again.log_event("message", "b")
    with pytest.warns(StoreCorruptWarning, match="rank-0.jsonl:2"):
        assert [e.message for e in read_events(run.run_dir)] == ["a", "b"]


def test_resume_continues_seq(root: Path) -> None:
    with ft.start_run() as run:
        run.log_event("level_start", level="epoch", step=0)
        run.log_event("level_end", level="epoch", step=0)
    with ft.start_run(run_id=run.run_id, resume=True) as again:
        e = again.log_event("level_start", level="epoch", step=1)
    assert e.seq == 2
    assert [x.seq for x in read_events(run.run_dir)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"kind": "Checkpoint"}, errors.InvalidArgumentError, "kind 'Checkpoint'"),
        ({"kind": ""}, errors.InvalidArgumentError, "kind ''"),
        ({"kind": "a-b"}, errors.InvalidArgumentError, "kind 'a-b'"),
        ({"kind": 3}, errors.InvalidArgumentError, "kind 3"),
        ({"kind": "m", "data": {"x": object()}}, errors.InvalidValueError, r"param 'data\.x'"),
        ({"kind": "m", "data": [1]}, errors.InvalidValueError, "data must be a mapping"),
        ({"kind": "m", "step": 2**63}, errors.InvalidValueError, "step must be an int64"),
        ({"kind": "m", "step": 1.5}, errors.InvalidValueError, "step must be an int64"),
        ({"kind": "m", "message": 3}, errors.InvalidValueError, "message must be a str"),
        ({"kind": "m", "level": b"x"}, errors.InvalidValueError, "level must be a str"),
    ],
)
def test_bad_events_are_refused_and_nothing_is_written(
    root: Path, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with ft.start_run() as run:
        kind = kwargs.pop("kind")
        with pytest.raises(error, match=message):
            run.log_event(kind, **kwargs)
    assert read_events(run.run_dir) == []


def test_module_level_log_event_and_the_events_table(root: Path) -> None:
    with ft.start_run("a", experiment="exp") as run:
        ft.log("loss", 1.0)
        ft.log_event("checkpoint", "saved", name="ckpt-1", step=10, data={"path": "m.pt"})
        ft.log_event("message", "hello")
    with pytest.raises(errors.RunClosedError):
        ft.log_event("message")
    frame = ft.events(experiment="exp")
    assert frame.columns == [
        "experiment", "run_id", "rank", "seq", "time", "kind", "name", "level", "step",
        "message", "data",
    ]  # fmt: skip
    assert frame.schema["time"] == pl.Datetime("ns", "UTC")
    assert frame["kind"].to_list() == ["checkpoint", "message"]
    assert frame["run_id"].to_list() == [run.run_id] * 2
    assert json.loads(frame["data"][0]) == {"path": "m.pt"}
    only = ft.events(kind="checkpoint", run_id=run.run_id)
    assert only["name"].to_list() == ["ckpt-1"]
    assert ft.events(experiment="nothing").height == 0
    assert read_events(run.run_dir)[0].name == "ckpt-1"


def test_attached_ranks_write_their_own_files_and_read_back_merged(root: Path) -> None:
    with ft.start_run() as run:
        other = ft.attach_run(run.run_dir)
        run.log_event("message", "r0-a")
        other.log("x", 1.0)
        other.log_event("message", "r1-a")
        run.log_event("message", "r0-b")
        other.finish()
    got = read_events(run.run_dir)
    assert [(e.rank, e.seq, e.message) for e in got] == [
        (0, 0, "r0-a"),
        (1, 0, "r1-a"),
        (0, 1, "r0-b"),
    ]
    assert got[1].rows == 1
    assert sorted(p.name for p in (run.run_dir / "events").iterdir()) == [
        "rank-0.jsonl",
        "rank-1.jsonl",
    ]


@pytest.mark.slow
def test_two_processes_write_events_as_two_ranks(root: Path) -> None:
    n = 500
    with ft.start_run() as run:
        code = textwrap.dedent(
            f"""
            import sys
            import ferrotrack.core as ft
            run = ft.attach_run(sys.argv[1], rank=int(sys.argv[2]))
            for i in range({n}):
                run.log_event("message", str(i), step=i)
            run.finish()
            """
        )
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(run.run_dir), r], stderr=subprocess.PIPE
            )
            for r in ("1", "2")
        ]
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
    got = read_events(run.run_dir)
    for rank in (1, 2):
        mine = [e for e in got if e.rank == rank]
        assert [e.seq for e in mine] == list(range(n))
        assert [e.step for e in mine] == list(range(n))
    assert [(e.time, e.rank, e.seq) for e in got] == sorted((e.time, e.rank, e.seq) for e in got)


@pytest.mark.slow
def test_sigkill_keeps_every_event_written_before_it(root: Path) -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import ferrotrack.core as ft
                run = ft.start_run("victim")
                for i in range(1000):
                    run.log_event("message", str(i))
                print(run.run_dir, flush=True)
                import time
                while True:
                    time.sleep(0.05)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    assert child.stdout is not None
    rdir = Path(child.stdout.readline().strip())
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert [e.message for e in read_events(rdir)] == [str(i) for i in range(1000)]
