"""Point lines built from whole Arrow batches: formatting happens in Arrow's kernels, one
call per column, never one Python call per point."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.arrow import name_codes

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["dumps", "point_lines", "read_points"]


def dumps(record: dict[str, Any]) -> str:
    """One compact JSON line, ASCII only (so no reader splits it at U+2028 or U+0085);
    objects JSON has no type for are written as their ``str``."""
    return json.dumps(record, separators=(",", ":"), default=str) + "\n"


def point_lines(batch: pa.RecordBatch, run_id: str, rank: int) -> bytes:
    """``{"type":"point","run_id":…,"rank":…,"name":…,"step":…,"time":…,"value":…}`` per row.

    ``time`` is nanoseconds since the epoch (UTC). A finite value is a JSON number with a
    fraction or an exponent (the shortest text that reads back to the same float); NaN and
    infinities are not JSON numbers, so they are the strings ``"nan"``, ``"inf"``, ``"-inf"``.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.num_rows == 0:
        return b""
    head = '{"type":"point","run_id":' + json.dumps(run_id) + f',"rank":{int(rank)},"name":'
    names, codes = name_codes(batch)
    prefixes = pa.array([head + json.dumps(n) + ',"step":' for n in names], pa.string())
    prefix = prefixes.take(pa.array(codes))
    step = pc.cast(batch.column("step"), pa.string())
    time = pc.cast(pc.cast(batch.column("timestamp"), pa.int64()), pa.string())
    values = batch.column("value")
    text = pc.cast(values, pa.string())
    # Arrow writes 1.0 as "1": keep ".0" so that typed readers (a search index mapping
    # the field on its first value) see a float every time.
    whole = pc.match_substring_regex(text, r"^-?[0-9]+$")
    text = pc.if_else(whole, pc.binary_join_element_wise(text, ".0", ""), text)
    quoted = pc.binary_join_element_wise('"', text, '"', "")
    text = pc.if_else(pc.is_finite(values), text, quoted)
    lines = pc.binary_join_element_wise(
        prefix, step, ',"time":', time, ',"value":', text, "}\n", ""
    )
    # The lines lie end to end in the array's data buffer: take them in one slice.
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(lines.buffers()[1], dtype=width)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    data: bytes = lines.buffers()[2].to_pybytes()
    return data[first:last]


def read_points(lines: Iterable[str] | Path) -> Iterator[tuple[str, int, int, float, int]]:
    """``(name, step, time, value, rank)`` of every point line (other records skipped).

    Takes a file or lines; the reader of what :func:`point_lines` writes (tests, scripts).
    """
    if isinstance(lines, Path):
        with lines.open(encoding="utf-8") as f:
            yield from read_points(list(f))
        return
    for line in lines:
        record = json.loads(line)
        if record.get("type") == "point":
            value = float(record["value"])  # a number, or "nan" / "inf" / "-inf"
            yield record["name"], record["step"], record["time"], value, record["rank"]
