"""Arrow helpers shared by backends, processors and the orchestrator.

Batches of points have the store's schema (``docs/format.md``): ``name`` (dictionary of
utf8), ``step`` int64, ``timestamp`` timestamp[ns, UTC], ``value`` float64. Work on names is
done once per distinct name (on the dictionary), then spread to the points with a ``take``:
no Python loop per point. pyarrow is imported here on first use only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from ferrotrack.core.plugins.metric import MetricData, MetricType

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "batch_to_metrics",
    "dictionary_names",
    "filter_names",
    "metrics_to_batch",
    "name_codes",
    "point_schema",
]


def point_schema() -> pa.Schema:
    """The schema of a batch of points."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("name", pa.dictionary(pa.uint32(), pa.string()), nullable=False),
            pa.field("step", pa.int64(), nullable=False),
            pa.field("timestamp", pa.timestamp("ns", tz="UTC"), nullable=False),
            pa.field("value", pa.float64(), nullable=False),
        ]
    )


def dictionary_names(batch: pa.RecordBatch) -> pa.DictionaryArray:
    """The ``name`` column as a dictionary array (encoding it if it came as plain strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = batch.column("name")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    return column


def name_codes(batch: pa.RecordBatch) -> tuple[list[str], Any]:
    """Distinct names and, per point, the index of its name among them (a numpy int array).

    Distinct even when the dictionary repeats a value (after a rename, say).
    """
    import numpy as np

    names = dictionary_names(batch)
    values: list[str] = names.dictionary.to_pylist()
    uniques: dict[str, int] = {}
    remap = np.fromiter(
        (uniques.setdefault(v, len(uniques)) for v in values), np.int64, len(values)
    )
    indices = names.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return list(uniques), remap[indices] if len(values) else indices


def filter_names(
    batch: pa.RecordBatch, include: Sequence[str] = ("*",), exclude: Sequence[str] = ()
) -> pa.RecordBatch:
    """The points whose name matches a glob of ``include`` and none of ``exclude``.

    Globs follow :func:`fnmatch.fnmatchcase`: ``*`` also matches ``/``.
    """
    import pyarrow as pa

    if batch.num_rows == 0 or (tuple(include) == ("*",) and not exclude):
        return batch
    names = dictionary_names(batch)
    keep = [
        any(fnmatchcase(n, p) for p in include) and not any(fnmatchcase(n, p) for p in exclude)
        for n in names.dictionary.to_pylist()
    ]
    if all(keep):
        return batch
    if not any(keep):
        return batch.slice(0, 0)
    mask = pa.array(keep, pa.bool_()).take(names.indices)
    return batch.filter(mask)


def batch_to_metrics(batch: pa.RecordBatch, *, source: str | None = None) -> Iterator[MetricData]:
    """One :class:`MetricData` per point, in order (for backends that take points one by one)."""
    import pyarrow as pa

    names = dictionary_names(batch).to_pylist()
    steps = batch.column("step").to_pylist()
    stamps = batch.column("timestamp").cast(pa.int64()).to_pylist()
    values = batch.column("value").to_pylist()
    for name, step, stamp, value in zip(names, steps, stamps, values, strict=True):
        yield MetricData(name, value, MetricType.SCALAR, step, stamp, source)


def metrics_to_batch(metrics: Iterable[MetricData]) -> pa.RecordBatch:
    """A batch of points from SCALAR/SYSTEM metrics (for tests and sources without a store)."""
    import time

    import pyarrow as pa

    rows = [m for m in metrics if m.type in (MetricType.SCALAR, MetricType.SYSTEM)]
    now = time.time_ns()
    encoded = pa.array([m.name for m in rows], pa.string()).dictionary_encode()
    names = pa.DictionaryArray.from_arrays(encoded.indices.cast(pa.uint32()), encoded.dictionary)
    return pa.RecordBatch.from_arrays(
        [
            names,
            pa.array([m.step if m.step is not None else 0 for m in rows], pa.int64()),
            pa.array(
                [m.timestamp if m.timestamp is not None else now for m in rows], pa.int64()
            ).cast(pa.timestamp("ns", tz="UTC")),
            pa.array([float(m.value) for m in rows], pa.float64()),
        ],
        schema=point_schema(),
    )
