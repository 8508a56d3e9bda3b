"""The git collector on real repositories made in tmp: commit, branch, dirty flag, the
diff as a patch that applies, credentials stripped from the remote URL, and no error
outside a repository."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.collectors._common import redact_url
from ferrotrack.collectors.git import GitCollector, _untracked, repo_facts
from ferrotrack.core.plugins import MetricData, MetricType


def git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "HOME": str(cwd),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    where = tmp_path / "repo"
    where.mkdir()
    git(where, "init", "-q", "-b", "trunk")
    (where / "train.py").write_text("lr = 0.1\n")
    git(where, "add", "train.py")
    git(where, "commit", "-q", "-m", "first")
    return where


KEEP: list[GitCollector] = []  # a collector's temporary patch lives as long as it does


def collect(path: Path, **config: object) -> tuple[dict[str, object], list[MetricData]]:
    c = GitCollector()
    KEEP.append(c)
    c.initialize({"path": str(path), **config})
    items = c.collect()
    return {m.name: m.value for m in items if m.type is not MetricType.ARTIFACT}, items


def test_a_clean_repository(repo: Path) -> None:
    facts, items = collect(repo / ".")
    assert facts["git.commit"] == git(repo, "rev-parse", "HEAD")
    assert facts["git.branch"] == "trunk"
    assert facts["git.dirty"] is False
    assert facts["git.remote_url"] is None
    assert facts["git.root"] == str(repo)
    assert not [m for m in items if m.type is MetricType.ARTIFACT]


def test_credentials_are_stripped_from_the_remote(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://alice:s3cr3t@git.example.org/team/x.git")
    git(repo, "remote", "add", "mirror", "https://ghp_tok3n@github.com/team/x.git")
    facts, _ = collect(repo)
    assert facts["git.remote_url"] == "https://git.example.org/team/x.git"
    facts, _ = collect(repo, remote="mirror")
    assert facts["git.remote_url"] == "https://github.com/team/x.git"


def test_a_dirty_repository_gives_a_patch_that_applies(repo: Path, tmp_path: Path) -> None:
    (repo / "train.py").write_text("lr = 0.2\nepochs = 3\n")
    (repo / "notes.txt").write_text("untracked\n")
    facts, items = collect(repo)
    assert facts["git.dirty"] is True
    assert facts["git.diff_truncated"] is False
    [artifact] = [m for m in items if m.type is MetricType.ARTIFACT]
    assert artifact.name == "git/diff.patch"
    patch = Path(artifact.value).read_text()
    assert "#   notes.txt" in patch
    assert "+epochs = 3" in patch
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "apply", str(artifact.value))
    assert (clone / "train.py").read_text() == "lr = 0.2\nepochs = 3\n"


def test_a_large_diff_is_cut(repo: Path) -> None:
    (repo / "train.py").write_text("x = 1\n" * 1000)
    facts, items = collect(repo, max_diff_bytes=100)
    [artifact] = [m for m in items if m.type is MetricType.ARTIFACT]
    assert facts["git.diff_truncated"] is True
    body = Path(artifact.value).read_bytes().split(b"\n", 1)[1]
    assert len(body) == 100


def test_outside_a_repository_it_says_so_without_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="ferrotrack.collectors"):
        facts, items = collect(tmp_path)
    assert list(facts) == ["git.repository"]
    assert str(facts["git.repository"]).startswith("none: ")
    assert items[0].type is MetricType.TEXT
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_a_repository_without_commits(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.txt").write_text("a\n")
    git(tmp_path, "add", "a.txt")
    facts, items = collect(tmp_path)
    assert facts["git.commit"] is None
    assert facts["git.dirty"] is True
    [artifact] = [m for m in items if m.type is MetricType.ARTIFACT]
    assert "+a" in Path(artifact.value).read_text()


# what may stand in a URL's userinfo unencoded (RFC 3986), "%" for encoded bytes
USERINFO = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + "-_.~%!$&'()*+,;="
userinfo = st.text(alphabet=USERINFO, min_size=1)
hosts = st.from_regex(r"[a-z]{1,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
paths = st.from_regex(r"(/[a-z0-9_.-]{1,8}){0,3}", fullmatch=True)


@given(st.sampled_from(["https", "http", "ssh", "git+ssh"]), userinfo, userinfo, hosts, paths)
def test_redact_url_never_keeps_a_password(
    scheme: str, user: str, password: str, host: str, path: str
) -> None:
    url = f"{scheme}://{user}:{password}@{host}{path}"
    clean = redact_url(url)
    assert f":{password}@" not in clean
    assert clean.endswith(f"{host}{path}")
    assert redact_url(clean) == clean


@given(st.sampled_from(["https", "http"]), userinfo, hosts, paths)
def test_redact_url_drops_tokens_of_http_urls(
    scheme: str, token: str, host: str, path: str
) -> None:
    assert redact_url(f"{scheme}://{token}@{host}{path}") == f"{scheme}://{host}{path}"


@given(hosts, paths)
def test_redact_url_leaves_clean_urls_alone(host: str, path: str) -> None:
    for url in (f"https://{host}{path}", f"ssh://git@{host}{path}", f"git@{host}:{path}"):
        assert redact_url(url) == url


def test_redact_url_drops_secret_query_parameters() -> None:
    url = "https://h.example/r.git?access_token=abc&ref=main"
    assert redact_url(url) == "https://h.example/r.git?ref=main"


def test_an_untracked_folder_is_one_entry(repo: Path) -> None:
    venv = repo / "venv" / "lib"
    venv.mkdir(parents=True)
    for i in range(50):
        (venv / f"m{i}.py").write_text("x\n")
    facts, items = collect(repo)
    assert facts["git.dirty"] is True
    [artifact] = [m for m in items if m.type is MetricType.ARTIFACT]
    header = [line for line in Path(artifact.value).read_text().splitlines() if line[:1] == "#"]
    assert header[2:] == ["#   venv/"]


def test_the_users_git_config_does_not_change_the_patch(repo: Path, tmp_path: Path) -> None:
    """An external diff tool (which makes a plain `git diff` fail), forced colours, no
    a/ b/ prefixes: the patch is still git's own and applies."""
    git(repo, "config", "diff.external", "/bin/false")
    git(repo, "config", "color.diff", "always")
    git(repo, "config", "diff.noprefix", "true")
    (repo / "train.py").write_text("lr = 0.3\n")
    facts, items = collect(repo)
    assert facts["git.commit"] == git(repo, "rev-parse", "HEAD")
    [artifact] = [m for m in items if m.type is MetricType.ARTIFACT]
    patch = Path(artifact.value).read_bytes()
    assert b"\x1b[" not in patch
    assert b"--- a/train.py" in patch
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    git(clone, "apply", str(artifact.value))
    assert (clone / "train.py").read_text() == "lr = 0.3\n"


def test_a_diff_that_fails_keeps_the_commit_and_warns_once(
    repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The base version of a changed file is missing from the object store: the diff
    cannot be made, the commit, branch and dirty flag are still recorded."""
    blob = git(repo, "rev-parse", "HEAD:train.py")
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    (repo / "train.py").write_text("lr = 0.4\n")
    with caplog.at_level(logging.DEBUG, logger="ferrotrack.collectors"):
        c = GitCollector()
        KEEP.append(c)
        c.initialize({"path": str(repo)})
        items = c.collect()
    facts = {m.name: m.value for m in items}
    assert facts["git.commit"] == git(repo, "rev-parse", "HEAD")
    assert facts["git.branch"] == "trunk"
    assert facts["git.dirty"] is True
    assert "git/diff.patch" not in facts
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "'git'" in warned[0]
    assert "could not make git/diff.patch" in warned[0]
    assert c.errors == 1


def test_a_diff_is_read_no_further_than_the_limit(repo: Path) -> None:
    """A huge change is never held in memory whole: git's output stops being read one
    byte past ``max_diff_bytes``."""
    (repo / "train.py").write_text("x = 1\n" * 200_000)  # a diff of more than 1 MB
    found = repo_facts(repo, max_diff_bytes=1000)
    assert len(found.patch) == 1001
    assert found.patch.startswith(b"diff --git a/train.py b/train.py")
    assert found.problems == []


def test_a_hung_git_costs_at_most_the_timeout_and_keeps_what_was_read(
    repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`git status` stuck in the repository's fsmonitor hook (a real hook blocked on a
    FIFO): the look ends at the timeout with the commit and branch it had."""
    fifo, log = tmp_path / "hold", tmp_path / "hook.log"
    os.mkfifo(fifo)
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\necho ran >> {log}\nexec cat {fifo}\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    try:
        with caplog.at_level(logging.WARNING, logger="ferrotrack.collectors"):
            c = GitCollector()
            KEEP.append(c)
            c.initialize({"path": str(repo), "timeout": 3})
            facts = {m.name: m.value for m in c.collect()}
    finally:
        release(fifo, log)
    assert facts["git.commit"] == git(repo, "rev-parse", "HEAD")
    assert facts["git.branch"] == "trunk"
    assert facts["git.dirty"] is None
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1
    assert "took longer than the 3 s for git" in warned[0]


def release(fifo: Path, log: Path) -> None:
    """Lets the hook's `cat` (left behind by the killed git) read EOF and end."""
    if not log.exists():
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            return
        except OSError:  # its reader has not opened the FIFO yet
            time.sleep(0.02)


def test_untracked_entries_of_git_status() -> None:
    status = b" M a.py\0R  new.py\0?? old.py\0?? notes.txt\0?? venv/\0C  c.py\0b.py\0?? x\0"
    # the field after a rename or copy is its old name, whatever it looks like
    assert _untracked(status) == ["notes.txt", "venv/", "x"]
    assert _untracked(b"") == []


def test_a_url_python_cannot_split_still_loses_its_credentials() -> None:
    # urlsplit raises on the unclosed IPv6 bracket; the password must not come back
    assert redact_url("https://alice:s3cr3t@[::1/team/x.git") == "https://[::1/team/x.git"
    assert redact_url("https://[::1/x.git") == "https://[::1/x.git"
