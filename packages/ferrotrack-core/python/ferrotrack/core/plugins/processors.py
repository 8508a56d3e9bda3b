"""Processors shipped with core: rename/prefix, include/exclude by glob, downsampling.

All of them are vectorised: names are handled once per distinct name, points with
numpy/pyarrow kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from ferrotrack.core.plugins.arrow import dictionary_names, filter_names, name_codes
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.metadata import PluginMetadata
from ferrotrack.core.plugins.processor import ProcessorPlugin

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BUILTIN_PROCESSORS",
    "EveryNthProcessor",
    "FilterProcessor",
    "RenameProcessor",
    "TimeDownsampleProcessor",
]

_VERSION = "1.0.0"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RenameConfig(_Config):
    """``mapping`` renames exact names first, then ``prefix`` is put before every name."""

    mapping: dict[str, str] = Field(default_factory=dict)
    prefix: str = ""


class FilterConfig(_Config):
    """Keep names matching a glob of ``include`` and none of ``exclude``."""

    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)


class EveryNthConfig(_Config):
    """Keep the 1st, (n+1)th, (2n+1)th... point of every metric."""

    n: int = Field(default=10, ge=1)


class TimeDownsampleConfig(_Config):
    """Keep the first point of every metric in each ``interval``-second window."""

    interval: float = Field(default=1.0, gt=0)


class RenameProcessor(ProcessorPlugin):
    """Renames metrics: ``{"mapping": {"loss": "train/loss"}, "prefix": "exp1/"}``."""

    config: RenameConfig

    def __init__(self) -> None:
        super().__init__()
        self.config = RenameConfig()

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of the ``rename`` processor."""
        return PluginMetadata(
            name="rename",
            version=_VERSION,
            type=PluginType.PROCESSOR,
            description="Rename metrics by exact name and/or add a prefix.",
            author="ferrotrack",
            capabilities=frozenset({"rename"}),
            config_model=RenameConfig,
        )

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The batch with its name dictionary rewritten (points untouched)."""
        import pyarrow as pa

        if not self.config.mapping and not self.config.prefix:
            return batch
        names = dictionary_names(batch)
        new = [
            self.config.prefix + self.config.mapping.get(n, n) for n in names.dictionary.to_pylist()
        ]
        column = pa.DictionaryArray.from_arrays(names.indices, pa.array(new, pa.string()))
        index = batch.schema.get_field_index("name")
        return batch.set_column(index, batch.schema.field(index).with_type(column.type), column)


class FilterProcessor(ProcessorPlugin):
    """Drops metrics by glob: ``{"include": ["train/*"], "exclude": ["*/debug"]}``."""

    config: FilterConfig

    def __init__(self) -> None:
        super().__init__()
        self.config = FilterConfig()

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of the ``filter`` processor."""
        return PluginMetadata(
            name="filter",
            version=_VERSION,
            type=PluginType.PROCESSOR,
            description="Keep metrics whose names match include globs and no exclude glob.",
            author="ferrotrack",
            capabilities=frozenset({"filter"}),
            config_model=FilterConfig,
        )

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The points whose names pass the globs."""
        return filter_names(batch, self.config.include, self.config.exclude)


class _PerMetricDownsampler(ProcessorPlugin):
    """Shared machinery: per-point position within its metric, state kept across batches."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, int] = {}

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """The points kept by :meth:`_keep`, in order."""
        import numpy as np
        import pyarrow as pa

        if batch.num_rows == 0:
            return batch
        names, codes = name_codes(batch)
        order = np.argsort(codes, kind="stable")
        grouped = codes[order]
        first = np.empty(len(grouped), dtype=bool)
        first[0] = True
        np.not_equal(grouped[1:], grouped[:-1], out=first[1:])
        keep_sorted = self._keep(batch, names, grouped, order, first)
        keep = np.empty_like(keep_sorted)
        keep[order] = keep_sorted
        return batch.filter(pa.array(keep))

    def _keep(
        self, batch: pa.RecordBatch, names: list[str], grouped: Any, order: Any, first: Any
    ) -> Any:
        raise NotImplementedError

    def get_status(self) -> dict[str, Any]:
        """The status plus the number of metrics tracked."""
        return {**super().get_status(), "metrics": len(self._seen)}


class EveryNthProcessor(_PerMetricDownsampler):
    """Keeps every ``n``-th point of each metric (the first one included), across batches."""

    config: EveryNthConfig

    def __init__(self) -> None:
        super().__init__()
        self.config = EveryNthConfig()

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of the ``every_nth`` processor."""
        return PluginMetadata(
            name="every_nth",
            version=_VERSION,
            type=PluginType.PROCESSOR,
            description="Keep every n-th point of each metric.",
            author="ferrotrack",
            capabilities=frozenset({"downsample"}),
            config_model=EveryNthConfig,
        )

    def _keep(
        self, batch: pa.RecordBatch, names: list[str], grouped: Any, order: Any, first: Any
    ) -> Any:
        import numpy as np

        n = len(grouped)
        positions = np.arange(n)
        starts = np.maximum.accumulate(np.where(first, positions, 0))
        seen = np.fromiter((self._seen.get(m, 0) for m in names), np.int64, len(names))
        ordinal = positions - starts + seen[grouped]
        counts = np.bincount(grouped, minlength=len(names))
        for code, name in enumerate(names):
            self._seen[name] = int(seen[code] + counts[code])
        return (ordinal % self.config.n) == 0


class TimeDownsampleProcessor(_PerMetricDownsampler):
    """Keeps the first point of each metric in every ``interval``-second window."""

    config: TimeDownsampleConfig

    def __init__(self) -> None:
        super().__init__()
        self.config = TimeDownsampleConfig()

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of the ``downsample_time`` processor."""
        return PluginMetadata(
            name="downsample_time",
            version=_VERSION,
            type=PluginType.PROCESSOR,
            description="Keep at most one point per metric per time window.",
            author="ferrotrack",
            capabilities=frozenset({"downsample"}),
            config_model=TimeDownsampleConfig,
        )

    def _keep(
        self, batch: pa.RecordBatch, names: list[str], grouped: Any, order: Any, first: Any
    ) -> Any:
        import numpy as np
        import pyarrow as pa

        width = max(1, round(self.config.interval * 1e9))
        stamps = batch.column("timestamp").cast(pa.int64()).to_numpy(zero_copy_only=False)
        window = stamps[order] // width
        previous = np.empty_like(window)
        previous[1:] = window[:-1]
        last = np.fromiter(
            (self._seen.get(m, np.iinfo(np.int64).min) for m in names), np.int64, len(names)
        )
        previous[first] = last[grouped[first]]
        ends = np.append(np.flatnonzero(first)[1:] - 1, len(window) - 1)
        for end in ends:
            self._seen[names[grouped[end]]] = int(window[end])
        return window != previous


BUILTIN_PROCESSORS: tuple[type[ProcessorPlugin], ...] = (
    RenameProcessor,
    FilterProcessor,
    EveryNthProcessor,
    TimeDownsampleProcessor,
)
"""Processors every :class:`PluginManager` knows without entry points."""
