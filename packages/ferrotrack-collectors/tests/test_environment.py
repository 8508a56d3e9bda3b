"""The environment collector: allow-listed variables (never a secret, whatever the list
says), the installed packages in pip-freeze form, the interpreter's facts."""

from __future__ import annotations

import importlib.metadata as im
import platform
import re
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ferrotrack.collectors.environment import EnvironmentCollector, requirements, selected_env
from ferrotrack.core.plugins import MetricType

SECRETS = ("KEY", "TOKEN", "SECRET", "PASSWORD")  # what the issue names
DROPPED = ("KEY", "TOKEN", "SECRET", "PASS", "CRED", "PRIVATE", "AUTH", "COOKIE")  # the docs'
names = st.from_regex(r"[A-Z][A-Z0-9_]{0,15}", fullmatch=True)
marked = st.builds(
    lambda a, s, b: f"{a}{s}{b}", st.from_regex(r"[A-Z_]{0,5}", fullmatch=True),
    st.sampled_from(SECRETS), st.from_regex(r"[A-Z_]{0,5}", fullmatch=True),
)  # fmt: skip


@given(st.dictionaries(names | marked, st.text(max_size=20)), st.lists(names | marked))
def test_only_allowed_names_and_never_a_secret(env: dict[str, str], allow: list[str]) -> None:
    got = selected_env(env, allow or ["*"])
    for name, value in got.items():
        assert not any(word in name.upper() for word in SECRETS)
        assert name in env
        if "://" not in env[name]:
            assert value == env[name]
    for name in env:
        if name in allow and not any(word in name.upper() for word in DROPPED):
            assert name in got


@given(marked, st.text(max_size=20))
def test_a_secret_is_dropped_even_when_allow_listed(name: str, value: str) -> None:
    assert selected_env({name: value}, [name, "*"]) == {}


def test_patterns_and_urls_in_values() -> None:
    env = {
        "NCCL_DEBUG": "INFO",
        "NCCL_IB_DISABLE": "1",
        "MLFLOW_TRACKING_URI": "https://bob:pw@mlflow.example.org/",
        "HOME": "/root",
        "AWS_SECRET_ACCESS_KEY": "x",
    }
    got = selected_env(env, ["NCCL_*", "MLFLOW_TRACKING_URI", "AWS_*"])
    assert got == {
        "MLFLOW_TRACKING_URI": "https://mlflow.example.org/",
        "NCCL_DEBUG": "INFO",
        "NCCL_IB_DISABLE": "1",
    }


def test_requirements_are_in_pip_freeze_form() -> None:
    text = requirements()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    pinned = {}
    for line in lines:
        if line.startswith("-e "):
            continue
        name, sep, version = line.partition("==")
        if sep:
            pinned[name.lower()] = version
        else:
            assert re.match(r"^[A-Za-z0-9_.-]+ @ \S+$", line), line
    assert pinned["psutil"] == im.version("psutil")
    assert pinned["hypothesis"] == im.version("hypothesis")
    assert "-e file://" in text  # this checkout's packages are editable installs


def test_the_collector_records_params_and_the_artifact(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setenv("WANDB_API_KEY", "never")
    c = EnvironmentCollector()
    c.initialize({"env_vars": ["OMP_NUM_THREADS", "WANDB_API_KEY"]})
    items = c.collect()
    params = {m.name: m.value for m in items if m.type is MetricType.PARAMETER}
    assert params["env.python.version"] == platform.python_version()
    assert params["env.python.executable"] == sys.executable
    assert params["env.vars.OMP_NUM_THREADS"] == "3"
    assert not [k for k in params if "WANDB" in k]
    assert params["env.cpu_model"]
    [artifact] = [m for m in items if m.type is MetricType.ARTIFACT]
    assert artifact.name == "environment/requirements.txt"
    assert Path(artifact.value).read_text() == requirements()
    c.stop()
    assert not Path(artifact.value).exists()


def test_the_dropped_words_are_the_documented_ones() -> None:
    from ferrotrack.collectors._common import SECRET_WORDS

    assert SECRET_WORDS == DROPPED
    assert all(any(w in word for w in DROPPED) for word in SECRETS)
    env = {"PGPASS": "a", "DB_PASSPHRASE": "b", "GH_AUTH": "c", "AWS_ACCESS_KEY_ID": "d",
           "SESSION_COOKIE": "e", "GOOGLE_APPLICATION_CREDENTIALS": "f", "RANK": "0"}  # fmt: skip
    assert selected_env(env, ["*"]) == {"RANK": "0"}


def dist_info(where: Path, name: str, version: str, direct_url: str | None) -> None:
    folder = where / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir()
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if direct_url is not None:
        (folder / "direct_url.json").write_text(direct_url)


def test_broken_direct_url_files_do_not_cost_the_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real distributions on sys.path with a direct_url.json that is not what PEP 610 says:
    each is listed as well as it can be, the others as usual, credentials removed."""
    dist_info(tmp_path, "ft-odd-dir", "1.0",
              '{"url": "https://tok@files.example.org/p.whl", "dir_info": "oops"}')  # fmt: skip
    dist_info(tmp_path, "ft-a-list", "2.0", "[1, 2]")
    dist_info(tmp_path, "ft-not-json", "3.0", "{oops")
    dist_info(tmp_path, "ft-vcs", "4.0",
              '{"url": "https://u:pw@github.com/o/r.git", '
              '"vcs_info": {"vcs": "git", "commit_id": "abc123"}}')  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = requirements().splitlines()
    assert "ft-odd-dir @ https://files.example.org/p.whl" in lines
    assert "ft-a-list==2.0" in lines
    assert "ft-not-json==3.0" in lines
    assert "ft-vcs @ git+https://github.com/o/r.git@abc123" in lines
    assert f"psutil=={im.version('psutil')}" in lines
