"""``staged``: files move into place together, the current file never leaves its name, and
a failure leaves what was there (and nothing more)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ferrotrack.postprocess.staging import staged


def _write_pair(dest: Path, text: str) -> None:
    with staged(dest) as files:
        files.path("a.txt").write_text(f"{text} a")
        files.path("b.txt").write_text(f"{text} b")


def test_the_current_file_keeps_its_name_while_it_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader opening ``a.txt`` at any moment of a commit finds a file (the old one or the
    new one): each rename is checked, as it happens, against the files that were there."""
    dest = tmp_path / "out"
    _write_pair(dest, "old")
    real_replace = os.replace
    missing: list[str] = []

    def watched_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        real_replace(src, dst)
        missing.extend(n for n in ("a.txt", "b.txt") if not (dest / n).is_file())

    monkeypatch.setattr(os, "replace", watched_replace)
    _write_pair(dest, "new")
    monkeypatch.undo()
    assert missing == []
    assert (dest / "a.txt").read_text() == "new a"
    assert (dest / "b.txt").read_text() == "new b"
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "b.txt"]


def test_files_are_on_disk_before_they_are_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each new file is fsynced before its rename, so a crash after the rename cannot
    leave an empty file under the final name."""
    real_fsync, real_replace = os.fsync, os.replace
    synced: set[int] = set()
    unsynced_renames: list[str] = []

    def watched_fsync(fd: int) -> None:
        synced.add(os.fstat(fd).st_ino)
        real_fsync(fd)

    def watched_replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(src).name.endswith(".tmp") and os.stat(src).st_ino not in synced:
            unsynced_renames.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", watched_fsync)
    monkeypatch.setattr(os, "replace", watched_replace)
    _write_pair(tmp_path / "out", "new")
    monkeypatch.undo()
    assert unsynced_renames == []
    assert {(tmp_path / "out" / n).stat().st_ino for n in ("a.txt", "b.txt")} <= synced


def test_a_failing_rename_puts_the_previous_files_back(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    _write_pair(dest, "old")
    (dest / "b.txt").unlink()
    (dest / "b.txt").mkdir()  # the second rename fails
    with pytest.raises(IsADirectoryError):
        _write_pair(dest, "new")
    assert (dest / "a.txt").read_text() == "old a"
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "b.txt"]  # no temp, no backup


def _fail_while_writing(dest: Path) -> None:
    with staged(dest) as files:
        files.path("a.txt").write_text("half")
        raise RuntimeError("while writing")


def test_a_failure_leaves_no_folder_it_created(tmp_path: Path) -> None:
    dest = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError, match="while writing"):
        _fail_while_writing(dest)
    assert not (tmp_path / "new").exists()


def test_a_failure_keeps_a_folder_that_was_there(tmp_path: Path) -> None:
    dest = tmp_path / "there"
    dest.mkdir()
    with pytest.raises(RuntimeError, match="while writing"):
        _fail_while_writing(dest)
    assert dest.is_dir()
    assert list(dest.iterdir()) == []
