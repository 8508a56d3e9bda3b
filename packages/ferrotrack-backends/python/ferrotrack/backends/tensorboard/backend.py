"""The ``tensorboard`` backend: appends TensorBoard events natively, one ``write`` per
batch, cut back on failure so that delivery's retry writes each event once.

Points become scalar events (encoded in Rust from the Arrow columns); params become the
HParams plugin's session start, the final status its session end (and the experiment, so
the dashboard lists each metric with its last value); events, tag changes, later params
and statuses become text summaries.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.tensorboard.config import TensorboardConfig
from ferrotrack.backends.tensorboard.files import EventFiles
from ferrotrack.backends.tensorboard.hparams import hparam_items, status_of
from ferrotrack.core.params import merge
from ferrotrack.core.plugins import BackendPlugin, PluginMetadata, PluginType

if TYPE_CHECKING:
    import pyarrow as pa

    from ferrotrack.core._native import TensorboardFile
    from ferrotrack.core.records import RunEvent, RunInfo

__all__ = ["EVENTS_TAG", "PARAMS_TAG", "STATUS_TAG", "TAGS_TAG", "TensorboardBackend"]

STATUS_TAG = "ferrotrack/status"
TAGS_TAG = "ferrotrack/tags"
PARAMS_TAG = "ferrotrack/params"
EVENTS_TAG = "ferrotrack/events"
_STARTED = "tensorboard_session_started"
"""``state`` key: the HParams session start is written (TensorBoard keeps the first)."""
_METRICS = "tensorboard_metrics"
"""``state`` key: ``[group, tag]`` of every metric mirrored, for the experiment summary."""


def fenced(data: Any) -> str:
    """``data`` as a JSON code block (Markdown: the Text tab shows it as code)."""
    return "```json\n" + json.dumps(data, ensure_ascii=False, default=str, indent=1) + "\n```"


class TensorboardBackend(BackendPlugin):
    """Mirrors a run as TensorBoard event files (see ``docs/backends/tensorboard.md``)."""

    config: TensorboardConfig

    def __init__(self) -> None:
        super().__init__()
        self._files: EventFiles | None = None
        self._mirror: dict[str, Any] = {}
        self._params: dict[str, Any] = {}
        self._tags: dict[str, str] = {}
        self._metrics: set[tuple[str, str]] = set()
        self._steps: dict[int, int] = {}
        self._rank0 = True

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``tensorboard``."""
        from ferrotrack.backends import __version__

        return PluginMetadata(
            name="tensorboard",
            version=__version__,
            type=PluginType.BACKEND,
            description="Write the run as TensorBoard event files (scalars, hparams, text).",
            author="ferrotrack",
            capabilities=frozenset({"metrics", "params", "tags", "events", "status"}),
            config_model=TensorboardConfig,
        )

    @property
    def logdir(self) -> Path | None:
        """Rank 0's folder, once the run is open."""
        return None if self._files is None else self._files.logdir

    def open_run(self, info: RunInfo, state: dict[str, Any]) -> None:
        """Opens a new event file (rank 0's; another rank's on its first points) and, for
        the run's main process, writes the params as the HParams session start."""
        config = self.config if self.config is not None else TensorboardConfig()
        self.config = config
        self._close()
        self._files = EventFiles(config.resolve(info), info.run_id, config.float64)
        self._mirror = state
        self._params = dict(info.params)
        self._tags = dict(info.tags)
        self._metrics = {(str(g), str(t)) for g, t in state.get(_METRICS, [])}
        self._rank0 = info.rank in (0, None)
        if self._rank0:
            self._files.get(0)  # the folder is made (or refused) now, not at the first point
            if config.hparams and self._params and not state.get(_STARTED):
                self._session_start(info.started)
            elif not config.hparams and self._params:
                # No HParams session: the whole params as the text an import merges.
                self._text(PARAMS_TAG, self._params, info.started)
            if self._tags:
                self._text(TAGS_TAG, self._tags, info.started)

    def handle_points(self, batch: pa.RecordBatch, rank: int) -> None:
        """One scalar event per point, the whole batch in one native write."""
        if batch.num_rows == 0:
            return
        files = self._open_files()
        file = files.get(rank)
        self._write(file, lambda: file.write_points(batch))
        if self.config.fsync:
            file.flush()
        self._note_metrics(batch, rank)

    def handle_batch(self, batch: pa.RecordBatch) -> None:
        """A batch without its rank (a direct call) is taken as rank 0's."""
        self.handle_points(batch, 0)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """The first params become the session start (if the run opened without any);
        later ones a text summary (TensorBoard keeps a run's first session start)."""
        self._params = merge(self._params, dict(params))
        if not self._rank0:
            return
        if self.config.hparams and not self._mirror.get(_STARTED):
            self._session_start(time.time_ns())
        else:
            self._text(PARAMS_TAG, dict(params), time.time_ns())

    def set_tags(self, tags: Mapping[str, str | None]) -> None:
        """The whole tags after the change, as a text summary."""
        for key, value in tags.items():
            if value is None:
                self._tags.pop(key, None)
            else:
                self._tags[key] = value
        if self._rank0:
            self._text(TAGS_TAG, self._tags, time.time_ns())

    def log_event(self, event: RunEvent) -> None:
        """A text summary of the event, at its step (or its rank's last step mirrored),
        in its rank's file."""
        record = {k: v for k, v in dataclasses.asdict(event).items() if v not in (None, {})}
        self._text(EVENTS_TAG, record, event.time, rank=event.rank, step=event.step)

    def set_status(self, status: str) -> None:
        """A text summary; a final status also ends the HParams session (and writes the
        experiment) and fsyncs the files."""
        now = time.time_ns()
        self._text(STATUS_TAG, status, now)
        if status == "running":
            return
        if self.config.hparams and self._rank0:
            file = self._open_files().get(0)
            self._write(file, lambda: file.write_session_end(status_of(status), now))
            if self.config.experiment_summary:
                metrics = sorted(self._metrics)
                hparams = hparam_items(self._params)
                self._write(file, lambda: file.write_experiment(hparams, metrics, now))
        self.flush()

    def flush(self) -> None:
        """fsyncs every file: everything delivered is on disk."""
        if self._files is not None:
            for f in self._files.opened():
                f.flush()

    def stop(self) -> None:
        """Closes the files."""
        self._close()
        super().stop()

    def _open_files(self) -> EventFiles:
        if self._files is None:
            raise RuntimeError("backend 'tensorboard': an item came before open_run")
        return self._files

    def _write(self, file: TensorboardFile, write: Callable[[], int]) -> None:
        """Runs a native write (all or nothing), naming the backend and run on failure."""
        try:
            write()
        except OSError as err:
            raise self._open_files().error(Path(file.path), err) from err

    def _session_start(self, when: int) -> None:
        file = self._open_files().get(0)
        items = hparam_items(self._params)
        self._write(file, lambda: file.write_session_start(items, when))
        self._mirror[_STARTED] = True

    def _text(self, tag: str, data: Any, when: int, rank: int = 0, step: int | None = None) -> None:
        if not self.config.text:
            return
        text = data if isinstance(data, str) else fenced(data)
        at = self._steps.get(rank, 0) if step is None else step
        file = self._open_files().get(rank)
        self._write(file, lambda: file.write_text(tag, text, at, when))

    def _note_metrics(self, batch: pa.RecordBatch, rank: int) -> None:
        """Remembers the names seen (once per batch, on its dictionary) for the
        experiment summary (``rank<r>`` is their group, as TensorBoard names subfolders)
        and the rank's last step (text summaries without a step of their own go there)."""
        import pyarrow.compute as pc

        from ferrotrack.core.plugins.arrow import dictionary_names

        names = dictionary_names(batch)
        used = names.dictionary.take(pc.unique(names.indices)).to_pylist()
        self._steps[rank] = int(pc.max(batch.column("step")).as_py())
        group = "" if rank == 0 else f"rank{rank}"
        new = {(group, str(n)) for n in used} - self._metrics
        if new:
            self._metrics |= new
            self._mirror[_METRICS] = sorted(self._metrics)

    def _close(self) -> None:
        if self._files is not None:
            self._files.close()
            self._files = None
