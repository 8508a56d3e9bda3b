"""Core's commands live in ferrotrack.core.cli; bad roots fail; errors stay on one line."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ferrotrack.core.cli import app
from ferrotrack.core.cli.app import build

CORE_PYPROJECT = Path(__file__).parents[3] / "packages" / "ferrotrack-core" / "pyproject.toml"


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(build(), list(args), env=env)


# ---- the CLI lives in one place -----------------------------------------------------------


def test_core_commands_need_no_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "entry_points", lambda group: [])
    res = run_cli("--help")
    assert res.exit_code == 0, res.output
    for name in ("runs", "metrics", "doctor", "plugins", "sync"):
        assert f"  {name} " in res.output, name
    assert run_cli("plugins", "list", "--type", "backend", "--json").exit_code == 0


def test_ferrotrack_cli_group_is_only_for_other_packages() -> None:
    project = tomllib.loads(CORE_PYPROJECT.read_text())["project"]
    assert "ferrotrack.cli" not in project.get("entry-points", {})
    for gone in ("ferrotrack.core.plugins.cli", "ferrotrack.core.plugins.sync_cli"):
        with pytest.raises(ModuleNotFoundError):
            __import__(gone)


def test_a_package_command_cannot_replace_a_core_command(monkeypatch: pytest.MonkeyPatch) -> None:
    class EP:
        name, value = "sync", "evil:sync"

        def load(self) -> object:
            raise AssertionError("a core command name is never loaded from an entry point")

    monkeypatch.setattr(app, "entry_points", lambda group: [EP()])
    assert "Send the points of RUN" in run_cli("sync", "--help").output


# ---- a store folder that is not there is an error --------------------------------------------

READ_COMMANDS = [
    ("runs", "list"),
    ("runs", "list", "--json"),
    ("runs", "show", "abc"),
    ("runs", "compare", "abc", "def"),
    ("runs", "delete", "--yes", "abc"),
    ("metrics", "abc"),
    ("doctor",),
    ("doctor", "--fix"),
    ("sync", "abc", "--backend", "example_jsonl", "--config", "path=/dev/null"),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_missing_root_is_a_one_line_error(tmp_path: Path, command: tuple[str, ...]) -> None:
    missing = tmp_path / "no-such-store"
    res = run_cli("--root", str(missing), *command)
    assert res.exit_code == 1, res.output
    assert res.output.count("\n") == 1, res.output
    assert res.output.startswith("error: store folder ")
    assert f"{missing} does not exist (from --root)" in res.output
    assert not missing.exists()


@pytest.mark.parametrize("command", [("runs", "list"), ("doctor",), ("metrics", "x")], ids=" ".join)
def test_missing_root_from_env_or_settings_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "env-store"
    res = run_cli(*command, env={"FERROTRACK_ROOT": str(missing)})
    assert res.exit_code == 1
    assert "(from FERROTRACK_ROOT)" in res.output
    monkeypatch.delenv("FERROTRACK_ROOT", raising=False)
    (tmp_path / "ferrotrack.toml").write_text('root = "file-store"\n')
    res = run_cli(*command, env={"FERROTRACK_ROOT": ""})
    assert res.exit_code == 1
    assert f"{tmp_path / 'file-store'} does not exist" in res.output
    assert "ferrotrack.toml: key 'root'" in res.output


def test_root_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    res = run_cli("--root", str(afile), "runs", "list")
    assert res.exit_code != 0
    assert str(afile) in res.output


def test_existing_empty_store_still_lists_nothing(store: Path) -> None:
    res = run_cli("--root", str(store), "runs", "list", "--json")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "[]"


# ---- errors are one line whatever the width -------------------------------------------------


def test_long_errors_are_one_line_through_the_runner(store: Path) -> None:
    name = "x" * 300 + "[red]kept[bold]"
    res = run_cli("--root", str(store), "runs", "show", name)
    assert res.exit_code == 1
    assert res.output.count("\n") == 1, res.output
    assert name in res.output  # not cut, and brackets are not read as markup


def test_long_errors_are_one_line_in_a_real_process(tmp_path: Path) -> None:
    missing = tmp_path / ("deep-" * 40) / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERROTRACK_")}
    env.update(COLUMNS="40", TERM="xterm")
    out = subprocess.run(
        [sys.executable, "-m", "ferrotrack.core.cli", "--root", str(missing), "runs", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert out.returncode == 1
    assert out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("error: store folder ")
    assert str(missing) in lines[0]


# ---- the version --------------------------------------------------------------------------


def test_version_is_read_lazily_and_shown_by_the_command() -> None:
    from importlib.metadata import version

    code = (
        "import sys\n"
        "import ferrotrack.core as ft\n"
        "lazy = '__version__' not in vars(ft)  # nothing read at import time\n"
        "print(lazy, ft.__version__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    expected = version("ferrotrack-core")
    assert out.stdout.split() == ["True", expected]
    res = run_cli("--version")
    assert res.exit_code == 0
    assert res.output == f"ferrotrack {expected}\n"
