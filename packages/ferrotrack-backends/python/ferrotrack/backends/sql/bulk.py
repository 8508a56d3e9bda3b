"""Whole batches of points into ``metrics``: PostgreSQL ``COPY`` text built by Arrow kernels,
SQLite ``executemany`` from column lists; never one Python call per point of ours.

``COPY ... FROM STDIN`` is PostgreSQL's bulk path: one statement streams every row, parsed
by the server in C, with none of the per-row round trips, planning or parameter binding of
an ``INSERT``. The text is made one column at a time (numbers cast to text by Arrow, the
name's escaped text made once per distinct name and spread with a ``take``), joined row-wise
by one more kernel, and handed to psycopg as one buffer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.arrow import name_codes

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import Connection

__all__ = ["COPY_METRICS", "copy_text", "insert_points", "point_columns"]

COPY_METRICS = 'COPY metrics (run_id, "rank", name, "row", step, "timestamp", value) FROM STDIN'
"""The statement :func:`copy_text`'s rows are written for (text format, tab-separated)."""

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(batch: pa.RecordBatch, run_id: str, rank: int, rows: Any) -> bytes:
    """The rows of ``batch`` as ``COPY`` text: ``run_id, rank, name, row, step, timestamp,
    value`` per line, ``row`` from ``rows`` (an int64 array as long as ``batch``).

    A value is Arrow's shortest text that reads back to the same float (``nan``, ``inf``,
    ``-inf`` included, which PostgreSQL's ``float8`` reads as such).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if batch.num_rows == 0:
        return b""
    names, codes = name_codes(batch)
    head = f"{run_id}\t{int(rank)}\t"
    prefixes = pa.array([head + name.translate(_ESCAPES) + "\t" for name in names], pa.string())
    prefix = prefixes.take(pa.array(codes))
    row = pc.cast(pa.array(np.asarray(rows, dtype=np.int64)), pa.string())
    step = pc.cast(batch.column("step"), pa.string())
    stamp = pc.cast(pc.cast(batch.column("timestamp"), pa.int64()), pa.string())
    value = pc.cast(batch.column("value"), pa.string())
    lines = pc.binary_join_element_wise(prefix, row, "\t", step, "\t", stamp, "\t", value, "\n", "")
    # The lines lie end to end in the array's data buffer: take them in one slice.
    width = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    offsets = np.frombuffer(lines.buffers()[1], dtype=width)
    first, last = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
    data: bytes = lines.buffers()[2].to_pybytes()
    return data[first:last]


def point_columns(batch: pa.RecordBatch) -> tuple[list[str], list[int], list[int], list[float]]:
    """Names, steps, timestamps (ns) and values of ``batch`` as Python lists (one C call
    per column), for drivers whose bulk path takes rows."""
    import pyarrow as pa

    from ferrotrack.core.plugins.arrow import dictionary_names

    names: list[str] = dictionary_names(batch).to_pylist()
    steps: list[int] = batch.column("step").to_pylist()
    stamps: list[int] = batch.column("timestamp").cast(pa.int64()).to_pylist()
    values: list[float] = batch.column("value").to_pylist()
    return names, steps, stamps, values


def insert_points(
    conn: Connection, batch: pa.RecordBatch, run_id: str, rank: int, rows: Any
) -> None:
    """Adds the points of ``batch`` to ``metrics`` in ``conn``'s transaction, ``rows`` their
    ``row`` numbers: ``COPY`` on PostgreSQL, one ``executemany`` elsewhere."""
    import numpy as np

    if batch.num_rows == 0:
        return
    if conn.dialect.name == "postgresql":
        data = copy_text(batch, run_id, rank, rows)
        driver: Any = conn.connection.driver_connection
        with driver.cursor() as cur, cur.copy(COPY_METRICS) as copy:
            copy.write(data)
        return
    names, steps, stamps, values = point_columns(batch)
    n = len(names)
    table = zip(
        [run_id] * n,
        [int(rank)] * n,
        np.asarray(rows, dtype=np.int64).tolist(),
        names,
        steps,
        stamps,
        values,
        strict=True,
    )
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(
        'INSERT INTO metrics (run_id, "rank", "row", name, step, "timestamp", value) '
        f"VALUES ({', '.join([mark] * 7)})",
        list(table),
    )
