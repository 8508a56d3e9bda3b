"""``Environment``: what one level of an experiment works with.

Its workspace folder (and the artifact, checkpoint and log folders in it), its config, the
factory registry, the ``TrackerManager`` of its run, and a logger that writes into the
run's ``logs/<level>.log``. ``create_child(name)`` makes the environment of the next level
in a subfolder. Each environment's logger has handlers of its own, so no line is written
twice, and is not kept in ``logging``'s global registry, so ten thousand trials leave no
loggers behind once closed.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from ferrotrack.experiment.common import Level
from ferrotrack.experiment.factory import FactoryRegistry
from ferrotrack.experiment.sections import as_dictconfig
from ferrotrack.experiment.trackers.tracker_manager import TrackerManager

if TYPE_CHECKING:
    import ferrotrack.core as ft

__all__ = ["LOG_FORMAT", "Environment"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The format of every environment's log lines (file and console)."""

_PACKAGE_LOGGER = "ferrotrack.experiment"


class _FolderFileHandler(logging.FileHandler):
    """A file handler that opens (and makes the folder of) its file on the first line, so
    an environment that logs nothing leaves no file."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="a", encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is None:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        super().emit(record)


class Environment:
    """The workspace, config, factories, tracking and logger of one level.

    ``tracker_manager`` defaults to a new one on ``run``; given one without a run, it gets
    ``run``. The manager's ``workspace`` is set to this workspace, where relative
    checkpoint paths are found.
    """

    def __init__(
        self,
        workspace: str | Path,
        config: DictConfig | Mapping[str, Any] | None = None,
        *,
        level: Level = Level.EXPERIMENT,
        factory_registry: FactoryRegistry | None = None,
        tracker_manager: TrackerManager | None = None,
        run: ft.Run | None = None,
        verbose: bool = False,
        debug: bool = False,
    ) -> None:
        self.workspace = Path(workspace).expanduser().absolute()
        self.config = as_dictconfig(config)
        self.level = level
        self.factory_registry = (
            factory_registry if factory_registry is not None else FactoryRegistry()
        )
        if tracker_manager is None:
            tracker_manager = TrackerManager(run, level=level)
        elif tracker_manager.run is None and run is not None:
            tracker_manager.run = run
        tracker_manager.workspace = self.workspace
        self.tracker_manager = tracker_manager
        self.run = run if run is not None else tracker_manager.run
        self.verbose = verbose
        self.debug = debug
        self.logger = self._make_logger()

    @property
    def artifact_dir(self) -> Path:
        """``<workspace>/artifacts``: files meant to become run artifacts."""
        return self.workspace / "artifacts"

    @property
    def checkpoint_dir(self) -> Path:
        """``<workspace>/checkpoints``."""
        return self.workspace / "checkpoints"

    @property
    def log_dir(self) -> Path:
        """``<workspace>/logs``."""
        return self.workspace / "logs"

    @property
    def log_file(self) -> Path:
        """Where this environment's logger writes: ``<run folder>/logs/<level>.log`` with a
        run (the run's own record), else ``<workspace>/log.txt``."""
        if self.run is not None:
            return Path(self.run.run_dir) / "logs" / f"{self.level.label}.log"
        return self.workspace / "log.txt"

    def _make_logger(self) -> logging.Logger:
        # Not logging.getLogger: that registry keeps every logger for the process's life.
        logger = logging.Logger(f"{_PACKAGE_LOGGER}.{self.level.label}")
        logger.parent = logging.getLogger(_PACKAGE_LOGGER)  # caplog and user handlers see it
        logger.setLevel(logging.DEBUG if self.debug else logging.INFO)
        formatter = logging.Formatter(LOG_FORMAT)
        handlers: list[logging.Handler] = [_FolderFileHandler(self.log_file)]
        if self.verbose and not _console_above(logger):
            # Only when no handler up the chain prints to the console already
            # (logging.basicConfig): the lines would show twice.
            handlers.append(logging.StreamHandler(sys.stderr))
        for handler in handlers:
            handler.setFormatter(formatter)
            logger.addHandler(handler)
        return logger

    def setup_environment(self) -> None:
        """Creates the workspace and its artifact, checkpoint and log folders (again is
        fine)."""
        for folder in (self.workspace, self.artifact_dir, self.checkpoint_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)

    def create_child(
        self,
        name: str,
        *,
        level: Level | None = None,
        run: ft.Run | None = None,
        config: DictConfig | Mapping[str, Any] | None = None,
    ) -> Environment:
        """The environment of the next level (or ``level``) in ``<workspace>/<name>``: same
        registry, verbosity and (unless given) run and config; its tracker manager is this
        one's child."""
        if not isinstance(name, str) or not name or Path(name).name != name or name in {".", ".."}:
            raise ValueError(f"create_child: expected a folder name, got {name!r}")
        child_level = level if level is not None else Level(min(self.level + 1, Level.BATCH))
        child_run = run if run is not None else self.run
        workspace = self.workspace / name
        manager = self.tracker_manager.create_child(
            child_run, level=child_level, workspace=workspace
        )
        return Environment(
            workspace,
            self.config if config is None else config,
            level=child_level,
            factory_registry=self.factory_registry,
            tracker_manager=manager,
            run=child_run,
            verbose=self.verbose,
            debug=self.debug,
        )

    def close(self) -> None:
        """Closes and removes the logger's handlers (the log file is complete on disk);
        later lines only reach the ``ferrotrack.experiment`` logger above it."""
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()

    def __repr__(self) -> str:
        return f"Environment(workspace={str(self.workspace)!r}, level={self.level.label})"


def _console_above(logger: logging.Logger) -> bool:
    """Whether a handler of a parent logger writes to the console (stderr or stdout)."""
    parent = logger.parent
    while parent is not None:
        for handler in parent.handlers:
            stream = getattr(handler, "stream", None)
            if stream is sys.stderr or stream is sys.stdout:
                return True
        if not parent.propagate:
            break
        parent = parent.parent
    return False
