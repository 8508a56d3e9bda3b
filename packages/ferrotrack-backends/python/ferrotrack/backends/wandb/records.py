"""The records of a W&B transaction log (``run-<id>.wandb``), as wandb's protobuf ``Record``.

A ``.wandb`` file is what an offline run writes and what ``wandb sync`` uploads: a 7-byte
header (``:W&B``, the magic 0xBEE1, version 0) then LevelDB-style log blocks of 32 KiB,
each chunk ``crc32 (4, little-endian) | length (2) | type (1) | data``, where the CRC is
zlib's CRC-32 of the type byte and the data, and a record longer than a block is split in
FIRST / MIDDLE / LAST chunks. wandb 0.31 has no Python reader of its own (its reader is in
``wandb-core``, behind ``wandb leet inspect``); the tests check this one against it.
"""

from __future__ import annotations

import logging
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ferrotrack.core.plugins.imports import require

__all__ = ["WandbLogError", "has_exit_record", "read_records"]

_log = logging.getLogger("ferrotrack.backends.wandb")

_IDENT = b":W&B"
_MAGIC = 0xBEE1
_HEADER = struct.Struct("<4sHB")
_CHUNK = struct.Struct("<IHB")
_BLOCK = 32 * 1024
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_INSTALL = "pip install ferrotrack-backends[wandb]"


class WandbLogError(ValueError):
    """A file that is not a W&B transaction log."""


def read_records(path: Path) -> Iterator[Any]:
    """Every whole record of ``path`` (``wandb_internal_pb2.Record``), in order.

    A file cut short (a process killed mid-write) or damaged part way yields what comes
    before the damage, with one warning naming the file; a file without the W&B header
    raises :class:`WandbLogError`.
    """
    pb = require("wandb.proto.wandb_internal_pb2", "reading W&B run files", install=_INSTALL)
    for data in _payloads(path):
        record = pb.Record()
        record.ParseFromString(data)
        yield record


def has_exit_record(path: Path) -> bool:
    """Whether the run's exit record is in ``path`` yet (read from the last two blocks).

    ``run.finish()`` returns before wandb-core has written everything to an offline file;
    the backend waits for this before it says a run is flushed.
    """
    pb = require("wandb.proto.wandb_internal_pb2", "reading W&B run files", install=_INSTALL)
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            start = max(0, size - 2 * _BLOCK) // _BLOCK * _BLOCK
            f.seek(start)
            tail = f.read()
    except OSError:
        return False
    for data in _chunks(tail, path, start, quiet=True):
        record = pb.Record()
        record.ParseFromString(data)
        if record.HasField("exit"):
            return True
    return False


def _payloads(path: Path) -> Iterator[bytes]:
    """The data of each whole record (chunks joined)."""
    data = path.read_bytes()
    if len(data) < _HEADER.size:
        raise WandbLogError(f"{path}: not a W&B run file (shorter than its header)")
    ident, magic, version = _HEADER.unpack_from(data, 0)
    if ident != _IDENT or magic != _MAGIC or version != 0:
        raise WandbLogError(f"{path}: not a W&B run file (bad header)")
    yield from _chunks(data, path, 0, quiet=False)


def _chunks(data: bytes, path: Path, start: int, *, quiet: bool) -> Iterator[bytes]:
    """Records of ``data``, which begins at byte ``start`` (a block boundary) of the file;
    pieces of a record begun before ``start`` are skipped."""
    pos = _HEADER.size if start == 0 else 0
    parts: list[bytes] | None = [] if start == 0 else None
    while pos < len(data):
        room = _BLOCK - (start + pos) % _BLOCK
        if room < _CHUNK.size:  # the block's tail is padding
            pos += room
            continue
        if pos + _CHUNK.size > len(data):
            if not quiet:
                _damaged(path, start + pos, "a cut chunk header")
            return
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        if kind == 0 and length == 0:  # zero padding up to the block's end
            pos += room
            continue
        begin, end = pos + _CHUNK.size, pos + _CHUNK.size + length
        if end > len(data) or length > room - _CHUNK.size:
            if not quiet:
                _damaged(path, start + pos, "a cut record")
            return
        payload = data[begin:end]
        if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) & 0xFFFFFFFF != crc:
            if not quiet:
                _damaged(path, start + pos, "a checksum mismatch")
            return
        pos = end
        if kind == _FULL:
            parts = []
            yield payload
        elif kind == _FIRST:
            parts = [payload]
        elif kind in (_MIDDLE, _LAST) and parts is None:
            continue  # the rest of a record that began before ``start``
        elif kind == _MIDDLE and parts:
            parts.append(payload)
        elif kind == _LAST and parts:
            parts.append(payload)
            yield b"".join(parts)
            parts = []
        else:
            if not quiet:
                _damaged(path, start + pos, f"an unexpected chunk type {kind}")
            return
    if parts and not quiet:  # a record's first pieces, then the end of the file
        _damaged(path, start + pos, "a record cut where a block ends")


def _damaged(path: Path, offset: int, what: str) -> None:
    _log.warning(
        "W&B run file %s: %s at byte %d; the records before it are read, the rest is not "
        "(a run killed while writing ends this way)",
        path,
        what,
        offset,
    )
