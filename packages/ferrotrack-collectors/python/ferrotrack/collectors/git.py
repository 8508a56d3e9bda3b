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
import threading
import time
from typing import Any

from pydantic import Field

from ferrotrack.collectors._common import (
    CollectorConfig,
    FileCollector,
    facts,
    metadata,
    redact_url,
)
from ferrotrack.core.plugins import MetricData, MetricType, PluginMetadata

__all__ = ["GitCollector", "GitConfig", "RepoFacts", "repo_facts"]

_log = logging.getLogger("ferrotrack.collectors")

_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
    "GIT_OPTIONAL_LOCKS": "0",  # `git status` must not take the index lock from the user
    "LC_ALL": "C",
}

_DIFF = [
    "diff",
    "HEAD",
    "--binary",
    # the user's git config must not change what the patch is: an external diff tool
    # (which also makes `git diff` fail), colours, textconv filters, other prefixes
    "--no-ext-diff",
    "--no-textconv",
    "--no-color",
    "--src-prefix=a/",
    "--dst-prefix=b/",
]

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
    timeout: float = Field(
        default=30.0, gt=0, description="Seconds all git commands of one look may take together."
    )


class GitError(Exception):
    """A git command failed (its stderr is the message)."""


class RepoFacts:
    """What one look at a repository found; ``problems`` lists what could not be read
    (the rest is still right)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.commit: str | None = None
        self.branch: str | None = None
        self.remote_url: str | None = None
        self.dirty: bool | None = None
        self.untracked: list[str] = []
        self.patch = b""
        self.problems: list[tuple[str, str]] = []

    def params(self) -> dict[str, Any]:
        """The facts recorded as params (under ``git.``)."""
        return {
            "commit": self.commit,
            "branch": self.branch,
            "remote_url": self.remote_url,
            "dirty": self.dirty,
            "root": self.root,
        }


class _Git:
    """Runs git commands in one folder, all of them within one deadline (a look at a huge
    or hung repository costs the run's start at most ``timeout`` seconds in all)."""

    def __init__(self, cwd: str, timeout: float) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout
        self.env = {**os.environ, **_ENV}

    def __call__(self, args: list[str], limit: int | None = None) -> bytes:
        """git's output, at most ``limit + 1`` bytes of it when ``limit`` is given (the
        rest is never read into memory: the command is ended)."""
        try:
            return self._run(args, limit)
        except OSError as exc:  # no temporary file, no process: as if git failed
            raise GitError(f"git {args[0]} could not run: {exc}") from exc

    def _run(self, args: list[str], limit: int | None) -> bytes:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise GitError(f"git {args[0]} not run: the {self.timeout:g} s for git are spent")
        if not os.path.isdir(self.cwd):
            raise GitError(f"{self.cwd} is not a folder")
        # stderr to a file: a pipe left unread could fill (a warning per file) and stall git
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    ["git", *args],
                    cwd=self.cwd,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=err,
                )
            except FileNotFoundError as exc:
                raise GitError("git is not installed") from exc
            late = threading.Event()

            def expire() -> None:
                late.set()
                proc.kill()

            timer = threading.Timer(left, expire)
            timer.start()
            try:
                assert proc.stdout is not None
                with proc.stdout:
                    out = proc.stdout.read() if limit is None else proc.stdout.read(limit + 1)
                    cut = limit is not None and len(out) > limit
                    if cut:
                        proc.kill()  # enough read: the rest of the diff is not wanted
                code = proc.wait()
            finally:
                timer.cancel()
            if cut:
                return out
            if late.is_set():
                raise GitError(f"git {args[0]} took longer than the {self.timeout:g} s for git")
            if code != 0:
                err.seek(0)
                message = err.read(4096).decode(errors="replace").strip().splitlines()
                raise GitError(message[0] if message else f"git {args[0]} exited {code}")
        return out


def _untracked(status: bytes) -> list[str]:
    """The untracked entries of ``git status --porcelain=v1 -z`` (an untracked folder is
    one entry, ``venv/``, as git shows it)."""
    names: list[str] = []
    fields = status.split(b"\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if entry[:3] == b"?? ":
            names.append(entry[3:].decode(errors="replace"))
        elif b"R" in entry[:2] or b"C" in entry[:2]:
            i += 1  # a rename or copy: the next field is the old name
    return names


def repo_facts(
    path: str | os.PathLike[str],
    *,
    remote: str = "origin",
    diff: bool = True,
    timeout: float = 30,
    max_diff_bytes: int | None = None,
) -> RepoFacts:
    """The facts of the repository containing ``path``; raises :class:`GitError` when there
    is none (or git is missing). A later command that fails (a remote without a URL, a
    diff that cannot be made, the time spent) leaves its fact empty and is listed in
    ``problems``: the commit and branch of a repository are never lost to it."""
    top = _Git(str(path), timeout)(["rev-parse", "--show-toplevel"]).decode().strip()
    found = RepoFacts(top)
    git = _Git(top, timeout)
    try:
        found.commit = git(["rev-parse", "--verify", "-q", "HEAD"]).decode().strip() or None
    except GitError:
        found.commit = None  # a repository without a commit yet
    try:
        found.branch = git(["symbolic-ref", "--short", "-q", "HEAD"]).decode().strip() or None
    except GitError:
        found.branch = None  # detached HEAD
    try:
        remotes = git(["remote"]).decode().split()
        chosen = remote if remote in remotes else (remotes[0] if remotes else None)
        if chosen is not None:
            found.remote_url = redact_url(git(["remote", "get-url", chosen]).decode().strip())
    except GitError as exc:
        found.problems.append(("remote", f"could not read the remote's URL: {exc}"))
    try:
        status = git(["status", "--porcelain=v1", "-z", "--untracked-files=normal"])
    except GitError as exc:
        found.problems.append(("status", f"could not tell whether the tree is dirty: {exc}"))
        return found
    found.dirty = bool(status)
    found.untracked = _untracked(status)
    if diff and found.dirty:
        try:
            if found.commit is not None:
                found.patch = git(_DIFF, max_diff_bytes)
            else:  # no HEAD yet: what is staged, then what is not
                staged = git(["diff", "--cached", *_DIFF[2:]], max_diff_bytes)
                found.patch = staged + git(["diff", *_DIFF[2:]], max_diff_bytes)
        except GitError as exc:
            found.problems.append(("diff", f"could not make git/diff.patch: {exc}"))
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


class GitCollector(FileCollector):
    """Records the repository's state once, at start (see the module docstring)."""

    interval: float | None = None

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
                where,
                remote=config.remote,
                diff=config.diff,
                timeout=config.timeout,
                max_diff_bytes=config.max_diff_bytes,
            )
        except GitError as exc:
            _log.info("collector 'git': %s is not in a git repository (%s)", where, exc)
            return [MetricData("git.repository", f"none: {exc}", MetricType.TEXT, source="git")]
        for key, message in found.problems:
            self.errors += 1
            self.report_problem(key, message)
        out = facts("git", found.params(), "git")
        if config.diff and found.dirty and not any(k == "diff" for k, _ in found.problems):
            data, cut = patch_text(found, config.max_diff_bytes)
            out.append(MetricData("git.diff_truncated", cut, MetricType.PARAMETER, source="git"))
            patch = self.artifact("git/diff.patch", data)
            if patch is not None:
                out.append(patch)
        return out
