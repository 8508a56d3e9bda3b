"""Files written under temporary names and moved into place together, so that a
processor that fails part way leaves no half-written or half-updated set of files."""

from __future__ import annotations

import contextlib
import os
import secrets
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
            for temp, final in self._files:
                backup = None
                if final.is_file():
                    backup = final.with_name(f".{final.name}.{self._token}.old")
                    os.replace(final, backup)
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
    discarded if it raises."""
    dest.mkdir(parents=True, exist_ok=True)
    files = StagedFiles(dest)
    try:
        yield files
    except BaseException:
        files.discard()
        raise
    files.commit()
