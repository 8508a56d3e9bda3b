"""Type stubs of the native extension ``ferrotrack.core._native``."""

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypedDict

FORMAT_VERSION: int
MAX_NAME_BYTES: int

class MetricSummaryDict(TypedDict):
    count: int
    first: float
    last: float
    min: float | None
    max: float | None
    first_step: int
    last_step: int
    last_timestamp: int
    nan_count: int

class RecoveryDict(TypedDict):
    quarantined: list[str]
    removed_covered: list[str]
    rebuilt_summaries: list[int]

class ArrowTable:
    """An Arrow table (arro3-style) readable by ``polars.from_arrow`` and ``pyarrow.table``."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __len__(self) -> int: ...

class ArrowRecordBatch:
    """An Arrow record batch (arro3-style) readable by ``pyarrow.record_batch``."""

    def __arrow_c_array__(self, requested_schema: object | None = None) -> object: ...
    @property
    def num_rows(self) -> int: ...

class MetricWriter:
    """Appends metric points of one rank of a run, and holds that rank until closed.

    ``rank=None`` claims the lowest free rank from 1; a rank held by another live writer
    raises ``RankInUseError``, one outside 0..2**20-1 ``InvalidArgumentError``.
    """

    def __init__(
        self,
        run_dir: str | PathLike[str],
        *,
        rank: int | None = 0,
        flush_interval: float = 1.0,
        max_rows: int = 262144,
        memory_cap_bytes: int = 33554432,
        durability: Literal["none", "on_close", "every_flush"] = "on_close",
        background: bool = True,
        compact_small_rows: int = 65536,
        compact_fanin: int = 8,
    ) -> None: ...
    def log(
        self,
        name: str | Mapping[str, float],
        value: float | int | None = None,
        step: int | None = None,
        timestamp: int | float | None = None,
    ) -> None: ...
    def log_many(self, mapping: Mapping[str, float], step: int | None = None) -> None: ...
    def log_array(
        self, name: str, values: Any, steps: Any | None = None, timestamps: Any | None = None
    ) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    def set_run_meta(self, json: str) -> None: ...
    def summary(self) -> dict[str, MetricSummaryDict]: ...
    def stats(self) -> dict[str, int]: ...
    def recovery(self) -> RecoveryDict: ...
    def subscribe(self, max_batches: int = 64) -> None: ...
    def next_flushed(self, timeout: float) -> tuple[int, ArrowRecordBatch] | None: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...
    def __arrow_c_schema__(self) -> object: ...
    @property
    def run_dir(self) -> str: ...
    @property
    def rank(self) -> int: ...
    @property
    def rows(self) -> int:
        """Points of this rank so far (stored at open + written + waiting): the ``first_row``
        the next flushed point will have. No I/O."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

def recover_run(run_dir: str | PathLike[str]) -> RecoveryDict:
    """Recovers every rank (only when no process writes the run): leftovers and unreadable
    segments set aside in ``.quarantine/``, covered segments deleted, summaries that are
    stale, unreadable or counted a segment set aside rebuilt from the segments."""

def verify_run(run_dir: str | PathLike[str]) -> list[tuple[str, str]]:
    """``(path, problem)`` for every live segment and summary file that cannot be read, with
    a one-line problem each; segments are checked by their footer only (fast). Read-only."""

def read_summaries(
    run_dirs: Sequence[str | PathLike[str]],
    name: str | None = None,
    columns: Sequence[str] | None = None,
) -> ArrowTable:
    """Summaries of many runs, read on every core. A summary file that cannot be read is
    rebuilt in memory from its rank's segments, with a ``StoreCorruptWarning`` naming it."""

def live_segments(
    run_dir: str | PathLike[str],
) -> tuple[list[tuple[int, int, int, str]], list[str]]: ...
def summary_files(run_dir: str | PathLike[str]) -> list[tuple[int, str]]: ...
def write_file_atomic(path: str | PathLike[str], data: bytes, sync: bool = False) -> None:
    """Writes ``data`` to ``path`` through a temporary file unique to the call (fsynced with
    ``sync``) and a rename: the store's one atomic writer. ``StoreWriteError`` with ``errno``."""

def read_files(paths: Sequence[str | PathLike[str]]) -> list[bytes | None]: ...
def read_run(
    run_dir: str | PathLike[str],
    rank: int | None = None,
    start: int = 0,
    limit: int | None = None,
) -> ArrowTable:
    """Every point of a run (all ranks, or one), each once. With ``start``/``limit`` (which
    need ``rank``): that rank's points from row ``start``, at most ``limit``, decoding only
    the segments and row groups that hold them. Never fails because a compaction removed a
    file meanwhile (it lists again)."""

# TensorBoard event files (crates/ferrotrack-tb), for ferrotrack-backends' tensorboard.

HParamValue = bool | float | str

class TensorboardFile:
    """One event file appended to: each write is one ``write`` of whole records, cut back
    if it fails part way. Times are int64 ns since the epoch."""

    def __init__(
        self, path: str | PathLike[str], *, float64: bool = False, wall_time: int = 0
    ) -> None: ...
    def write_points(self, batch: object) -> int:
        """One scalar event per point of an Arrow record batch (name, step, timestamp,
        value); returns the bytes written."""
    def write_text(self, tag: str, text: str, step: int, wall_time: int) -> int: ...
    def write_session_start(
        self,
        hparams: Sequence[tuple[str, HParamValue]],
        wall_time: int,
        group_name: str = "",
    ) -> int: ...
    def write_session_end(
        self, status: Literal["success", "failure", "running", "unknown"], wall_time: int
    ) -> int: ...
    def write_experiment(
        self,
        hparams: Sequence[tuple[str, HParamValue]],
        metrics: Sequence[tuple[str, str]],
        wall_time: int,
    ) -> int: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...
    @property
    def path(self) -> Path: ...
    @property
    def float64(self) -> bool: ...

class TensorboardSessionStart(TypedDict):
    hparams: dict[str, HParamValue]
    group_name: str
    start: int

class TensorboardSessionEnd(TypedDict):
    status: Literal["success", "failure", "running", "unknown"]
    end: int

class TensorboardExperiment(TypedDict):
    hparams: list[tuple[str, int]]
    metrics: list[tuple[str, str]]
    created: int

class TensorboardRead(TypedDict):
    points: ArrowTable
    texts: list[tuple[str, int, int, str]]
    session_start: TensorboardSessionStart | None
    session_end: TensorboardSessionEnd | None
    experiment: TensorboardExperiment | None
    first: int | None
    last: int | None
    events: int
    damage: list[tuple[Path, int, str, int]]

def read_tensorboard(paths: Sequence[str | PathLike[str]]) -> TensorboardRead:
    """The event files of one run, read in the order given: scalar points (simple values
    and scalar tensors), texts, HParams data, wall-time range, and each damaged place as
    ``(path, offset, what, bytes skipped)`` (its records skipped, the rest kept)."""
