"""One atomic writer: ``_native.write_file_atomic``, and ``write_json_atomic`` on top of it."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import pytest

from ferrotrack.core import errors
from ferrotrack.core._native import write_file_atomic
from ferrotrack.core.store.jsonfile import read_json, write_json_atomic


def test_a_file_is_replaced_whole_and_no_temporary_is_left(tmp_path: Path) -> None:
    path = tmp_path / "doc.bin"
    write_file_atomic(path, b"old")
    write_file_atomic(path, b"\x00new\xff", True)
    assert path.read_bytes() == b"\x00new\xff"
    write_json_atomic(tmp_path / "run.json", {"a": [1, 2], "é": None}, sync=True)
    assert read_json(tmp_path / "run.json") == {"a": [1, 2], "é": None}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.bin", "run.json"]


def test_a_file_that_cannot_be_written_is_a_store_write_error_with_its_errno(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("not a folder")
    for path, code in [
        (tmp_path / "missing" / "x.json", errno.ENOENT),
        (tmp_path / "file" / "x.json", errno.ENOTDIR),
    ]:
        with pytest.raises(errors.StoreWriteError) as caught:
            write_json_atomic(path, {"a": 1})
        assert caught.value.errno == code
        assert f"cannot write {path}" in str(caught.value)
        assert isinstance(caught.value, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_what_json_cannot_hold_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    write_json_atomic(path, {"kept": 1})
    with pytest.raises(ValueError, match="Out of range float"):
        write_json_atomic(path, {"x": float("nan")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_json_atomic(path, {"x": object()})
    assert read_json(path) == {"kept": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]


def test_threads_writing_one_file_never_leave_a_mixed_or_partial_one(tmp_path: Path) -> None:
    path = tmp_path / "cursor.json"
    write_json_atomic(path, {"writer": -1, "pad": ""})
    failures: list[str] = []

    def write(n: int) -> None:
        doc = {"writer": n, "pad": str(n) * 50_000}
        for _ in range(40):
            write_json_atomic(path, doc)
            back = json.loads(path.read_bytes())
            if back["pad"] != str(back["writer"]) * 50_000:
                failures.append(f"mixed: writer {back['writer']}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert [p.name for p in tmp_path.iterdir()] == ["cursor.json"]
