"""JSON files of the store (``run.json``, ``params.json``, delivery cursors), always
replaced atomically and read back as objects."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import StoreCorruptError


def write_json_atomic(path: Path, doc: Mapping[str, Any], *, sync: bool = False) -> None:
    """Writes ``doc`` to ``path`` atomically (the store crate's writer, the one of
    ``run.json``): readers see the old file or the new one, never a part.

    With ``sync`` the file is fsynced before the rename, and its folder after it. Raises
    :class:`StoreWriteError` (with ``errno``) when the file cannot be written, and
    ``ValueError``/``TypeError`` for what JSON cannot hold, before writing anything.
    """
    from ferrotrack.core._native import write_file_atomic

    data = json.dumps(doc, indent=2, allow_nan=False).encode()
    write_file_atomic(path, data, sync)


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
