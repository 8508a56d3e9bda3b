"""Checkpoint files of one run: where a relative path points, whether the network given to
``on_checkpoint`` may overwrite the file there, and the artifact name each file gets.

Apart from ``TrackerManager`` because these rules (whose file wins, no name hiding another)
are their own, and the manager only has to record what they decide.
"""

from __future__ import annotations

import importlib
import pickle
import time
from pathlib import Path
from typing import Any

__all__ = ["CheckpointFiles", "save_network", "workspace_path"]


def workspace_path(path: str | Path, workspace: Path | None) -> Path:
    """A relative path is the workspace's, unless only the working folder has that file
    (the guides save ``checkpoints/epoch_N.pth`` relative to where the script runs)."""
    given = Path(path).expanduser()
    if given.is_absolute() or workspace is None:
        return given
    inside = workspace / given
    if not inside.exists() and given.exists():
        return given.resolve()
    return inside


class CheckpointFiles:
    """What one manager knows of the checkpoint files of its run: those it wrote itself
    (with their mtimes) and the artifact name each file took."""

    def __init__(self) -> None:
        self._artifact_sources: dict[str, Path] = {}
        self._written: dict[Path, int] = {}
        self._started_ns = time.time_ns()

    def should_save(self, network: Any, path: Path) -> bool:
        """A network is saved over no file, a file this manager wrote, or one older than
        the run (an earlier attempt's); a file the user's code wrote in this run wins."""
        if network is None:
            return False
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return True
        return self._written.get(path) == mtime or mtime < self._started_ns

    def save(self, network: Any, path: Path) -> str | None:
        """``save_network``, remembering the file as ours when it worked."""
        error = save_network(network, path)
        if error is None:
            self._written[path] = path.stat().st_mtime_ns
        return error

    def artifact_name(self, path: Path, workspace: Path | None) -> str:
        """``checkpoints/<path under the workspace>``, or the file name; a name another
        file already took in this run gets a counter, so no checkpoint hides another."""
        relative = path.name
        if workspace is not None and path.resolve().is_relative_to(workspace.resolve()):
            relative = path.resolve().relative_to(workspace.resolve()).as_posix()
        name = f"checkpoints/{relative.removeprefix('checkpoints/')}"
        source = path.resolve()
        taken = self._artifact_sources.get(name)
        count = 1
        base = Path(name)
        while taken is not None and taken != source:
            count += 1
            name = (base.parent / f"{base.stem}-{count}{base.suffix}").as_posix()
            taken = self._artifact_sources.get(name)
        self._artifact_sources[name] = source
        return name


def save_network(network: Any, path: Path) -> str | None:
    """Writes ``network`` to ``path`` (a torch ``state_dict`` when possible, else pickle);
    returns why it could not, or ``None``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        state_dict = getattr(network, "state_dict", None)
        if callable(state_dict):
            try:
                torch = importlib.import_module("torch")
            except ImportError:
                pass
            else:
                torch.save(state_dict(), path)
                return None
        with path.open("wb") as out:
            pickle.dump(network, out)
    except Exception as exc:
        path.unlink(missing_ok=True)
        return f"{type(exc).__name__}: {exc}"
    return None
