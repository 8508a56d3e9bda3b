"""The ``plugins`` and ``sync`` commands, through click's runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from ferrotrack.core.cli.plugins_cmd import plugins
from ferrotrack.core.cli.sync_cmd import sync


def test_plugins_list_json_and_table() -> None:
    out = CliRunner().invoke(plugins, ["list", "--json"])
    assert out.exit_code == 0, out.output
    rows = {r["name"]: r for r in json.loads(out.output)}
    assert rows["example_jsonl"]["package"] == "ferrotrack-example-plugin"
    assert rows["example_jsonl"]["kind"] == "backend"
    assert rows["every_nth"]["available"] is True
    only = json.loads(CliRunner().invoke(plugins, ["list", "--type", "processor", "--json"]).output)
    assert {r["kind"] for r in only} == {"processor"}
    table = CliRunner().invoke(plugins, ["list"])
    assert table.exit_code == 0
    assert "example_counter" in table.output


def test_plugins_show_gives_the_config_schema() -> None:
    out = CliRunner().invoke(plugins, ["show", "example_jsonl"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    schema = data["metadata"]["config_schema"]
    assert schema["required"] == ["path"]
    assert schema["properties"]["token"]["anyOf"][0]["format"] == "password"
    missing = CliRunner().invoke(plugins, ["show", "nope"])
    assert missing.exit_code != 0
    assert "no plugin named 'nope'" in missing.output


def test_sync_twice_sends_no_duplicates(
    tmp_path: Path, make_run: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = make_run([("loss", i, float(i)) for i in range(120)], every=50)
    (run / "params.json").write_text('{"lr": 0.1}')
    target = tmp_path / "out.jsonl"
    args = [str(run), "--backend", "example_jsonl", "--config", f"path={target}"]
    first = CliRunner().invoke(sync, args)
    assert first.exit_code == 0, first.output
    assert "120 new points" in first.output
    second = CliRunner().invoke(sync, args)
    assert second.exit_code == 0, second.output
    assert "0 new points" in second.output
    lines = [json.loads(x) for x in target.read_text().splitlines()]
    points = [x for x in lines if "name" in x]
    assert [p["step"] for p in points] == list(range(120))
    opens = [x for x in lines if "open" in x]
    assert [(x["opens"], x["run_params"]) for x in opens] == [(1, {"lr": 0.1}), (2, {"lr": 0.1})]
    assert [x for x in lines if "params" in x] == [], "params come with the run's identity"


def test_sync_unknown_run_is_a_clean_error(tmp_path: Path) -> None:
    out = CliRunner().invoke(sync, ["nope", "--backend", "example_jsonl", "--root", str(tmp_path)])
    assert out.exit_code != 0
    assert "no run matches 'nope'" in out.output
