"""JSON files of the store (``run.json``, ``params.json``, delivery cursors), always
replaced atomically and read back as objects."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import StoreCorruptError, StoreWriteError


def write_json_atomic(path: Path, doc: Mapping[str, Any], *, sync: bool = False) -> None:
    """Writes ``doc`` to ``path`` via ``.<name>.tmp`` and a rename: readers see old or new.

    With ``sync`` the file is fsynced before the rename.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=2, allow_nan=False)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise StoreWriteError(e.errno, f"cannot write {path}: {e.strerror or e}") from e


def parse_json_object(data: bytes | str | None, path: Path | str) -> dict[str, Any]:
    """The JSON object in ``data`` (read from ``path``); ``{}`` for a missing file."""
    if data is None:
        return {}
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise StoreCorruptError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise StoreCorruptError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    return obj


def read_json(path: Path) -> dict[str, Any]:
    """The JSON object at ``path``; ``{}`` when the file does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    return parse_json_object(data, path)


def read_json_objects(paths: list[str]) -> list[dict[str, Any]]:
    """Many JSON object files at once, read on every core by the native store.

    Takes ``str`` paths: building thousands of ``Path`` objects costs more than reading.
    """
    from ferrotrack.core._native import read_files

    return [parse_json_object(data, p) for data, p in zip(read_files(paths), paths, strict=True)]
