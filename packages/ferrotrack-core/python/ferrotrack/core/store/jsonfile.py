"""JSON files of the store, always replaced atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ferrotrack.core.errors import StoreWriteError


def write_json_atomic(path: Path, doc: Any, *, sync: bool = False) -> None:
    """Writes ``doc`` to ``path`` via a temporary file and a rename: readers see old or new."""
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


def read_json(path: Path) -> Any:
    """The JSON document at ``path``."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
