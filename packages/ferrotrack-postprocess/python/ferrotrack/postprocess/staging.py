"""Files written under temporary names and moved into place together, so that a
processor that fails part way leaves no half-written or half-updated set of files.

A file being replaced never leaves its name: it is hard-linked to a backup name, then the
new file is renamed over it (one atomic rename), so a reader, or a process killed in
between, finds the old file or the new one, never none. New files are fsynced before
their rename, so a crash cannot leave an empty file under a final name.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["StagedFiles", "staged"]


class StagedFiles:
    """Temporary paths in ``dest``; :meth:`commit` renames them to their final names."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self._token = secrets.token_hex(4)
        self._files: list[tuple[Path, Path]] = []

    def path(self, name: str) -> Path:
        """Where to write the file that will be ``dest / name``."""
        final = self.dest / name
        temp = self.dest / f".{name}.{self._token}.tmp"
        self._files.append((temp, final))
        return temp

    def commit(self) -> list[Path]:
        """Moves every file into place; on a failure, puts back what was there before
        (an earlier run's files) and removes the rest, then raises."""
        backups: list[tuple[Path, Path | None]] = []
        try:
            for temp, _ in self._files:
                _fsync(temp)
            for temp, final in self._files:
                backup = None
                if final.is_file():
                    backup = final.with_name(f".{final.name}.{self._token}.old")
                    _keep_a_copy(final, backup)
                backups.append((final, backup))
                os.replace(temp, final)
        except BaseException:
            for final, backup in reversed(backups):
                with contextlib.suppress(OSError):
                    if backup is not None:
                        os.replace(backup, final)
                    elif final.is_file():
                        final.unlink()
            self.discard()
            raise
        _fsync(self.dest)  # the renames themselves
        for _, backup in backups:
            if backup is not None:
                with contextlib.suppress(OSError):
                    backup.unlink()
        return [final for _, final in self._files]

    def discard(self) -> None:
        """Removes the temporary files that exist."""
        for temp, _ in self._files:
            with contextlib.suppress(OSError):
                temp.unlink()


@contextlib.contextmanager
def staged(dest: Path) -> Iterator[StagedFiles]:
    """``dest`` created, then the files written in the block committed at its end, or
    discarded if it (or the commit) raises; then the folders it created are removed
    again if they are empty."""
    created = _missing_folders(dest)
    files = StagedFiles(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        yield files
        files.commit()
    except BaseException:
        files.discard()
        for folder in created:  # deepest first; a folder someone filled meanwhile stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _missing_folders(dest: Path) -> list[Path]:
    """``dest`` and its ancestors that do not exist yet, deepest first."""
    missing = []
    folder = dest
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _keep_a_copy(final: Path, backup: Path) -> None:
    """``backup`` as a second name of ``final`` (a hard link: instant, and ``final`` stays
    where it is); a copy where the file system has no hard links."""
    try:
        os.link(final, backup)
    except FileExistsError:
        raise
    except OSError:
        shutil.copy2(final, backup)


def _fsync(path: Path) -> None:
    """Flushes a file's (or a folder's entries') data to disk, where the platform can."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        if path.is_dir():  # folders cannot be opened on every platform (Windows)
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not path.is_dir():
            raise
    finally:
        os.close(fd)
