"""One store root for writers, readers and the CLI: argument > env > settings file > default."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import ferrotrack.core as ft
from ferrotrack.core.cli.app import build


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project folder with ``root = "myruns"`` in its ``ferrotrack.toml``; cwd one below."""
    for key in list(os.environ):
        if key.startswith("FERROTRACK_") or key in ("RANK", "LOCAL_RANK"):
            monkeypatch.delenv(key)
    project = tmp_path / "proj"
    (project / "scripts").mkdir(parents=True)
    (project / "ferrotrack.toml").write_text('root = "myruns"\n')
    monkeypatch.chdir(project / "scripts")
    yield project
    while (run := ft.active_run()) is not None:
        run.finish()


def _cli_ids(*args: str) -> list[str]:
    res = CliRunner().invoke(build(), [*args, "runs", "list", "--json"])
    assert res.exit_code == 0, res.output
    return [r["run_id"] for r in json.loads(res.output)]


def test_settings_root_is_seen_by_start_run_readers_and_cli(project: Path) -> None:
    with ft.start_run("one", experiment="e") as run:
        run.log("loss", 0.5, 0)
    assert run.run_dir.resolve().is_relative_to(project / "myruns")
    assert ft.runs().get_column("run_id").to_list() == [run.run_id]
    assert ft.metrics().collect().get_column("value").to_list() == [0.5]
    assert ft.final_values("loss").height == 1
    assert _cli_ids() == [run.run_id]
    res = CliRunner().invoke(build(), ["metrics", "one", "--json"])
    assert res.exit_code == 0, res.output
    assert [p["value"] for p in json.loads(res.output)] == [0.5]
    res = CliRunner().invoke(build(), ["runs", "show", "one", "--json"])
    assert res.exit_code == 0, res.output
    assert Path(json.loads(res.output)["path"]).resolve().is_relative_to(project / "myruns")


def test_env_over_file_and_option_over_env(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ft.start_run("in-file-root"):
        pass
    env_root = tmp_path / "env-store"
    monkeypatch.setenv("FERROTRACK_ROOT", str(env_root))
    with ft.start_run("in-env-root") as env_run:
        pass
    assert env_run.run_dir.is_relative_to(env_root)
    assert ft.runs().get_column("name").to_list() == ["in-env-root"]
    assert _cli_ids() == [env_run.run_id]
    assert len(_cli_ids("--root", str(project / "myruns"))) == 1
    assert ft.runs(project / "myruns").get_column("name").to_list() == ["in-file-root"]
    with ft.start_run("explicit", root=tmp_path / "arg-store") as arg_run:
        pass
    assert arg_run.run_dir.is_relative_to(tmp_path / "arg-store")
