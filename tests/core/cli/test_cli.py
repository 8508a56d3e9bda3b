"""The ``ferrotrack`` command through click's runner, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import polars as pl
import pytest
from click.testing import CliRunner, Result

from ferrotrack.core.cli import app
from ferrotrack.core.cli.app import build

if TYPE_CHECKING:
    from tests.core.conftest import MakeRun


def invoke(store: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(build(), ["--root", str(store), *args], input=input)


def test_runs_list_json_and_table(make_run: MakeRun, store: Path) -> None:
    a = make_run([("loss", 1.0, 0)], name="first", experiment="a")
    make_run([("loss", 2.0, 0)], name="second", experiment="b", status="failed")
    res = invoke(store, "runs", "list", "--json")
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert {r["name"] for r in rows} == {"first", "second"}
    res = invoke(store, "runs", "list", "--experiment", "a", "--json")
    assert [r["run_id"] for r in json.loads(res.output)] == [a.name[4:]]
    res = invoke(store, "runs", "list", "--status", "failed", "--limit", "1")
    assert res.exit_code == 0
    assert "second" in res.output
    assert "first" not in res.output


def test_show_and_compare(make_run: MakeRun, store: Path) -> None:
    a = make_run([("loss", 1.0, 0)], params={"lr": 0.1, "bs": 8}, name="a")
    b = make_run([("loss", 3.0, 0)], params={"lr": 0.2, "bs": 8}, name="b")
    res = invoke(store, "runs", "show", a.name[4:], "--json")
    shown = json.loads(res.output)
    assert shown["params"] == {"lr": 0.1, "bs": 8}
    assert shown["metrics"]["loss"]["last"] == 1.0
    assert shown["run"]["status"] == "finished"
    res = invoke(store, "runs", "compare", "a", "b", "--json")
    cmp = json.loads(res.output)
    assert cmp["params"] == {"lr": [0.1, 0.2]}
    assert cmp["metrics"]["loss"]["last"] == [1.0, 3.0]
    assert invoke(store, "runs", "compare", "a", "b").exit_code == 0
    assert b.exists()


def test_errors_are_one_red_line(store: Path) -> None:
    res = invoke(store, "runs", "show", "nothing")
    assert res.exit_code == 1
    assert res.output.strip().startswith("error:")
    assert "Traceback" not in res.output
    res = invoke(store, "--debug", "runs", "show", "nothing")
    assert res.exit_code != 0
    assert res.exception is not None


def test_metrics_export(make_run: MakeRun, store: Path, tmp_path: Path) -> None:
    a = make_run([("x", 1.0, 0), ("y", 2.0, 0), ("x", 3.0, 1)])
    out = tmp_path / "x.parquet"
    res = invoke(store, "metrics", a.name[4:], "--name", "x", "-o", str(out))
    assert res.exit_code == 0, res.output
    assert pl.read_parquet(out).get_column("value").to_list() == [1.0, 3.0]
    csv = tmp_path / "all.csv"
    assert invoke(store, "metrics", a.name[4:], "-o", str(csv)).exit_code == 0
    assert pl.read_csv(csv).height == 3
    points = json.loads(invoke(store, "metrics", a.name[4:], "--json").output)
    assert [p["value"] for p in points] == [1.0, 2.0, 3.0]
    assert invoke(store, "metrics", a.name[4:], "-o", str(tmp_path / "x.txt")).exit_code == 1


def test_delete_asks_first(make_run: MakeRun, store: Path) -> None:
    a = make_run([("x", 1.0, 0)])
    assert invoke(store, "runs", "delete", a.name[4:], input="n\n").exit_code != 0
    assert a.exists()
    assert invoke(store, "runs", "delete", a.name[4:], input="y\n").exit_code == 0
    assert not a.exists()
    b = make_run([("x", 1.0, 0)])
    assert invoke(store, "runs", "delete", "--yes", b.name[4:]).exit_code == 0
    assert not b.exists()


def test_doctor_finds_and_fixes(make_run: MakeRun, store: Path) -> None:
    dead = make_run([("x", 1.0, 0)], status="running", meta={"pid": 2**22 + 4321})
    (dead / "metrics" / ".part-00000-0000000009.parquet.tmp").write_bytes(b"junk")
    (dead / "summary.parquet").unlink()
    make_run([("x", 1.0, 0)])
    res = invoke(store, "doctor", "--json")
    assert res.exit_code == 1
    report = json.loads(res.output)
    assert report["checked"] == 2
    (entry,) = report["runs"]
    assert len(entry["problems"]) == 3
    res = invoke(store, "doctor", "--fix", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads((dead / "run.json").read_text())["status"] == "crashed"
    assert (dead / "summary.parquet").exists()
    assert not list((dead / "metrics").glob(".*.tmp"))
    assert invoke(store, "doctor").exit_code == 0


def test_plugin_commands_load_and_broken_ones_warn(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    @click.command("hello")
    def hello() -> None:
        click.echo("hi")

    class EP:
        def __init__(self, name: str, obj: object) -> None:
            self.name, self.value, self._obj = name, f"pkg:{name}", obj

        def load(self) -> object:
            if isinstance(self._obj, Exception):
                raise self._obj
            return self._obj

    eps = [EP("hello", hello), EP("broken", ImportError("no module x"))]
    monkeypatch.setattr(app, "entry_points", lambda group: eps)
    group = build()
    assert "ignoring CLI plugin 'broken'" in capsys.readouterr().err
    res = CliRunner().invoke(group, ["hello"])
    assert res.exit_code == 0
    assert res.output == "hi\n"


def test_real_subprocess(make_run: MakeRun, store: Path) -> None:
    make_run([("x", 1.0, 0)], name="sub")
    env = {**os.environ, "FERROTRACK_ROOT": str(store)}
    out = subprocess.run(
        [sys.executable, "-m", "ferrotrack.core.cli", "runs", "list", "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert [r["name"] for r in json.loads(out.stdout)] == ["sub"]
    bad = subprocess.run(
        [sys.executable, "-m", "ferrotrack.core.cli", "runs", "show", "zzz"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "error:" in bad.stderr
    assert "Traceback" not in bad.stderr
