"""The ``git`` collector: commit, branch, remote URL (credentials removed), dirty flag, and
the uncommitted changes as the artifact ``git/diff.patch``, once, at the run's start.

It runs the ``git`` command rather than a Python binding: git's porcelain output is the
interface git keeps stable, the command is there wherever a repository is, and the
collector adds no dependency. Outside a repository (or without git) it records the tag
``git.repository`` saying so and logs it at INFO: not an error.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import CollectorConfig, facts, metadata, redact_url
from ferrotrack.core.plugins import CollectorPlugin, MetricData, MetricType, PluginMetadata

__all__ = ["GitCollector", "GitConfig", "RepoFacts", "repo_facts"]

_log = logging.getLogger("ferrotrack.collectors")

_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
    "GIT_OPTIONAL_LOCKS": "0",  # `git status` must not take the index lock from the user
    "LC_ALL": "C",
}


_MAX_UNTRACKED = 1000
"""Untracked names listed in the patch's header at most."""


class GitConfig(CollectorConfig):
    """Where to look and how much to keep."""

    path: str | None = Field(
        default=None, description="A folder inside the repository (default: cwd)."
    )
    remote: str = Field(default="origin", description="The remote whose URL is recorded.")
    diff: bool = Field(default=True, description="Record uncommitted changes as git/diff.patch.")
    max_diff_bytes: int = Field(
        default=10_000_000, gt=0, description="Larger diffs are cut there (git.diff_truncated)."
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds one git command may take.")


class GitError(Exception):
    """A git command failed (its stderr is the message)."""


class RepoFacts:
    """What one look at a repository found."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.commit: str | None = None
        self.branch: str | None = None
        self.remote_url: str | None = None
        self.dirty = False
        self.untracked: list[str] = []
        self.patch = b""

    def params(self) -> dict[str, Any]:
        """The facts recorded as params (under ``git.``)."""
        return {
            "commit": self.commit,
            "branch": self.branch,
            "remote_url": self.remote_url,
            "dirty": self.dirty,
            "root": self.root,
        }


def _git(args: list[str], cwd: str, timeout: float) -> bytes:
    env = {**os.environ, **_ENV}
    if not os.path.isdir(cwd):
        raise GitError(f"{cwd} is not a folder")
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} took longer than {timeout} s") from exc
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(message[0] if message else f"git {args[0]} exited {done.returncode}")
    return done.stdout


def repo_facts(
    path: str | os.PathLike[str], *, remote: str = "origin", diff: bool = True, timeout: float = 30
) -> RepoFacts:
    """The facts of the repository containing ``path``; raises :class:`GitError` when there
    is none (or git is missing)."""
    cwd = str(path)
    top = _git(["rev-parse", "--show-toplevel"], cwd, timeout).decode().strip()
    found = RepoFacts(top)
    try:
        found.commit = _git(["rev-parse", "--verify", "-q", "HEAD"], top, timeout).decode().strip()
    except GitError:
        found.commit = None  # a repository without a commit yet
    try:
        branch = _git(["symbolic-ref", "--short", "-q", "HEAD"], top, timeout).decode().strip()
        found.branch = branch or None
    except GitError:
        found.branch = None  # detached HEAD
    remotes = _git(["remote"], top, timeout).decode().split()
    chosen = remote if remote in remotes else (remotes[0] if remotes else None)
    if chosen is not None:
        url = _git(["remote", "get-url", chosen], top, timeout).decode().strip()
        found.remote_url = redact_url(url)
    status = _git(["status", "--porcelain=v1", "-z", "--untracked-files=normal"], top, timeout)
    found.dirty = bool(status)
    # an untracked folder is one entry (as `git status` shows it), not each of its files
    others = _git(
        ["ls-files", "--others", "--exclude-standard", "--directory", "--no-empty-directory", "-z"],
        top,
        timeout,
    )
    found.untracked = [n for n in others.decode(errors="replace").split("\0") if n]
    if diff and found.dirty:
        if found.commit is not None:
            found.patch = _git(["diff", "HEAD", "--binary"], top, timeout)
        else:
            staged = _git(["diff", "--cached", "--binary"], top, timeout)
            found.patch = staged + _git(["diff", "--binary"], top, timeout)
    return found


def patch_text(found: RepoFacts, limit: int) -> tuple[bytes, bool]:
    """The artifact's bytes: a ``#`` header naming the base commit and the untracked files
    (which ``git diff`` leaves out; ``git apply`` skips the header), then the diff, cut at
    ``limit`` bytes. Returns the bytes and whether they were cut."""
    lines = [f"# uncommitted changes of {found.root} against {found.commit or 'no commit'}"]
    if found.untracked:
        lines.append("# untracked files (not in the diff below):")
        lines += [f"#   {name}" for name in found.untracked[:_MAX_UNTRACKED]]
        if len(found.untracked) > _MAX_UNTRACKED:
            lines.append(f"#   … and {len(found.untracked) - _MAX_UNTRACKED} more")
    head = ("\n".join(lines) + "\n").encode()
    cut = len(found.patch) > limit
    return head + (found.patch[:limit] if cut else found.patch), cut


class GitCollector(CollectorPlugin):
    """Records the repository's state once, at start (see the module docstring)."""

    interval: float | None = None

    def __init__(self) -> None:
        super().__init__()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``git``."""
        return metadata(
            "git",
            "Commit, branch, remote URL (no credentials), dirty flag and uncommitted diff.",
            GitConfig,
        )

    @property
    def sampling_interval(self) -> float | None:
        """Always ``None``: the facts are taken once."""
        return None

    def collect(self) -> list[MetricData]:
        """The repository's facts: params ``git.*`` and the artifact ``git/diff.patch``."""
        config: GitConfig = self.config or GitConfig()
        where = config.path or os.getcwd()
        try:
            found = repo_facts(
                where, remote=config.remote, diff=config.diff, timeout=config.timeout
            )
        except GitError as exc:
            _log.info("collector 'git': %s is not in a git repository (%s)", where, exc)
            return [MetricData("git.repository", f"none: {exc}", MetricType.TEXT, source="git")]
        out = facts("git", found.params(), "git")
        if config.diff and found.dirty:
            data, cut = patch_text(found, config.max_diff_bytes)
            out.append(MetricData("git.diff_truncated", cut, MetricType.PARAMETER, source="git"))
            file = self._write("diff.patch", data)
            if file is not None:
                out.append(MetricData("git/diff.patch", file, MetricType.ARTIFACT, source="git"))
        return out

    def _write(self, name: str, data: bytes) -> str | None:
        """``data`` in a temporary file the run copies; ``None`` (reported once, the facts
        still recorded) when it cannot be written."""
        self.cleanup()
        try:
            self._tmp = tempfile.TemporaryDirectory(prefix="ferrotrack-git-")
            file = Path(self._tmp.name) / name
            file.write_bytes(data)
        except OSError as exc:
            self.errors += 1
            self.report_problem("artifact", f"could not write {name} (left out of the run): {exc}")
            return None
        return str(file)

    def cleanup(self) -> None:
        """Removes the temporary copy of the patch (the run keeps its own)."""
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.cleanup()

    def stop(self, timeout: float = 5.0) -> None:
        """Stops and removes the temporary patch."""
        super().stop(timeout)
        self.cleanup()
