"""``ferrotrack import tensorboard LOGDIR``: TensorBoard event files read back (natively,
in Rust) as :class:`~ferrotrack.core.importing.ImportedRun` records.

Every folder under ``LOGDIR`` (itself included) holding ``events.out.tfevents.*`` files is
one run, its files read in name order as TensorBoard does. What is read:

- points: every scalar, from ``simple_value`` and from scalar tensors of the ``scalars``
  plugin (what TF2, torch's and tensorboardX's newer writers store), at its step and wall
  time;
- params: the HParams plugin's session start (dotted keys become nested), updated by the
  ``ferrotrack/params`` texts a ferrotrack mirror wrote for params logged later;
- tags: the last ``ferrotrack/tags`` text a ferrotrack mirror wrote;
- status: the last ``ferrotrack/status`` text, else the session end (success: finished,
  failure: failed, other: killed), else finished;
- started and ended: the first and last wall time of any event;
- parent: the nearest folder above that is a run too (tensorboardX's ``add_hparams`` and
  ferrotrack's rank folders are subfolders of their run).

The source is ``tensorboard:<absolute folder>``: importing again changes nothing. A damaged
or truncated file gives a warning naming it and the byte offset; its good records are kept.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.tensorboard.backend import PARAMS_TAG, STATUS_TAG, TAGS_TAG
from ferrotrack.backends.tensorboard.files import PREFIX
from ferrotrack.core.errors import FerrotrackWarning, InvalidArgumentError
from ferrotrack.core.params import expand, merge

if TYPE_CHECKING:
    from ferrotrack.core._native import TensorboardRead
    from ferrotrack.core.importing import ImportedRun

__all__ = ["TensorboardImportWarning", "find_runs", "read_runs"]

_FINAL = {"finished": "finished", "failed": "failed", "killed": "killed", "crashed": "failed"}
"""A final status of the run's status text to what an import takes (``crashed``, a run
whose process died, is a failure there)."""
_EXPERIMENT_BAD = re.compile(r"[/\\=\x00]")
_FROM_SESSION_END = {"success": "finished", "failure": "failed"}


class TensorboardImportWarning(FerrotrackWarning):
    """An event file with damaged records (the others are imported)."""


def find_runs(logdir: Path) -> dict[Path, list[Path]]:
    """``{folder: its event files in name order}`` for every run folder under ``logdir``,
    parents before their subfolders."""
    runs: dict[Path, list[Path]] = {}
    for file in logdir.rglob(f"{PREFIX}*"):
        if file.is_file():
            runs.setdefault(file.parent, []).append(file)
    return {d: sorted(runs[d], key=lambda p: p.name) for d in sorted(runs, key=lambda d: d.parts)}


def read_runs(logdir: Path, experiment: str | None = None) -> Iterator[ImportedRun]:
    """Every TensorBoard run under ``logdir``; ``experiment`` default: ``logdir``'s name."""
    from ferrotrack.core import _native

    root = Path(logdir).expanduser().resolve()
    if not root.is_dir():
        raise InvalidArgumentError(
            f"import tensorboard: {logdir} is not a folder; give the logdir TensorBoard reads"
        )
    default = _EXPERIMENT_BAD.sub("-", root.name).strip(".") or "tensorboard"
    name_of_experiment = experiment or default
    runs = find_runs(root)
    for folder, files in runs.items():
        read = _native.read_tensorboard(files)
        for path, offset, what, skipped in read["damage"]:
            warnings.warn(
                f"import tensorboard: {path}: {what} at byte {offset} ({skipped} bytes "
                "skipped); the file's other records are imported",
                TensorboardImportWarning,
                stacklevel=2,
            )
        yield _imported(root, folder, runs, read, name_of_experiment)


def _imported(
    root: Path,
    folder: Path,
    runs: dict[Path, list[Path]],
    read: TensorboardRead,
    experiment: str,
) -> ImportedRun:
    import pyarrow as pa

    from ferrotrack.core.importing import ImportedRun

    rel = folder.relative_to(root)
    parent = next((p for p in folder.parents if p in runs and p != folder), None)
    return ImportedRun(
        source=f"tensorboard:{folder}",
        experiment=experiment,
        name=root.name if rel == Path() else rel.as_posix(),
        points=pa.table(read["points"]),  # zero copy, from the native reader
        params=_params(read),
        tags=_tags(read),
        status=_status(read),
        started=read["first"],
        ended=read["last"],
        parent_source=f"tensorboard:{parent}" if parent is not None else None,
        tool="tensorboard",
    )


def _last_text(read: TensorboardRead, tag: str) -> str | None:
    texts = [text for t, _, _, text in read["texts"] if t == tag]
    return texts[-1] if texts else None


def _json_block(text: str | None) -> dict[str, Any]:
    """The object of a JSON code block a ferrotrack mirror wrote (``{}`` if none)."""
    if text is None:
        return {}
    body = text.strip().removeprefix("```json").removesuffix("```").strip()
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _params(read: TensorboardRead) -> dict[str, Any]:
    """The session start's params, then each later ``ferrotrack/params`` delta."""
    start = read["session_start"]
    params: dict[str, Any] = expand(start["hparams"]) if start else {}
    for tag, _, _, text in read["texts"]:
        if tag == PARAMS_TAG:
            params = merge(params, _json_block(text))
    return params


def _tags(read: TensorboardRead) -> dict[str, str]:
    """The tags of the last ``ferrotrack/tags`` text, if any."""
    return {str(k): str(v) for k, v in _json_block(_last_text(read, TAGS_TAG)).items()}


def _status(read: TensorboardRead) -> str:
    text = _last_text(read, STATUS_TAG)
    if text in _FINAL:
        return _FINAL[text]
    end = read["session_end"]
    if end is not None:
        return _FROM_SESSION_END.get(end["status"], "killed")
    return "killed" if text == "running" else "finished"
