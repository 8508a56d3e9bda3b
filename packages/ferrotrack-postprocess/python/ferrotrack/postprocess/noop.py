"""``noop``: no processing, only a check that the model run left its output folder (and,
optionally, the files it should have written) — seed 003's no-op processor."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictBool

from ferrotrack.core.plugins.execution import ModelRun
from ferrotrack.postprocess.base import ProcessorBase
from ferrotrack.postprocess.config import ProcessorConfig
from ferrotrack.postprocess.paths import model_folder
from ferrotrack.postprocess.results import failed, succeeded

__all__ = ["NoopConfig", "NoopPostprocessor"]


def _inside_the_folder(entry: str) -> str:
    """An ``expect`` entry, refused when absolute or climbing out with ``..``: it would
    check a file the model run did not write (``/etc/hostname`` exists everywhere)."""
    problem = _outside(entry)
    if problem is not None:
        raise ValueError(f"expected a path relative to the output folder, without '..' ({problem})")
    return entry


class NoopConfig(ProcessorConfig):
    """Arguments of ``noop``."""

    validate_outputs: StrictBool = True
    """Check the output folder; ``False`` checks nothing and succeeds."""
    output_dir: Path | None = None
    """The folder to check instead of ``Path(model_run.output_dir) / model_run.run_id``."""
    expect: list[Annotated[str, AfterValidator(_inside_the_folder)]] = Field(default_factory=list)
    """Files that must exist, relative to the folder; glob patterns need one match."""


class NoopPostprocessor(ProcessorBase):
    """Checks that a model run's outputs exist; processes nothing."""

    processor_name = "noop"
    description = "Check that the model run's output folder (and expected files) exist."
    config_class = NoopConfig

    def run(self, model_run: ModelRun, config: Any) -> dict[str, Any]:
        """``success`` when the folder and every expected file exist; else the missing
        paths in ``missing``."""
        assert isinstance(config, NoopConfig)
        name, run_id = self.processor_name, model_run.run_id
        folder = config.output_dir if config.output_dir is not None else model_folder(model_run)
        if not config.validate_outputs:
            return succeeded(
                name, run_id, "nothing checked (validate_outputs=False)", output_dir=str(folder)
            )
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            return failed(
                name,
                run_id,
                f"missing output folder: {folder}",
                f"noop: the output folder of model run {run_id!r} {what}: {folder}",
                output_dir=str(folder),
                missing=[str(folder)],
            )
        missing = [e for e in config.expect if not _present(folder, e)]
        if missing:
            return failed(
                name,
                run_id,
                f"missing outputs: {', '.join(missing)}",
                f"noop: model run {run_id!r} lacks {len(missing)} expected output(s) in "
                f"{folder}: {', '.join(missing)}",
                output_dir=str(folder),
                missing=[str(folder / m) for m in missing],
            )
        return succeeded(
            name,
            run_id,
            f"outputs of model run {run_id!r} are in {folder}",
            output_dir=str(folder),
            checked=list(config.expect),
        )


def _outside(entry: str) -> str | None:
    """Why ``entry`` does not name something inside the folder, if it does not."""
    if not entry:
        return "got an empty path"
    if PurePosixPath(entry).is_absolute() or PureWindowsPath(entry).anchor:
        return "got an absolute path"
    if ".." in PurePosixPath(entry.replace("\\", "/")).parts:
        return "got a '..' part"
    return None


def _present(folder: Path, expected: str) -> bool:
    """Whether ``expected`` (a path or a glob pattern) names something under ``folder``."""
    if any(c in expected for c in "*?["):
        return any(folder.glob(expected))
    return (folder / expected).exists()
