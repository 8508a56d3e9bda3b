"""``ferrotrack experiment``: ``--import`` of a broken or oddly named ``.py`` file, tables at
80 columns and with thousands of rows, and what the error line says about the store."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from experiment_fixtures import write_experiment_config
from omegaconf import DictConfig

from ferrotrack.core.cli.app import build
from ferrotrack.experiment import Pipeline, YAMLSerializable


@YAMLSerializable.register("CliTablesPipeline")
class CliTablesPipeline(Pipeline):
    """Does nothing, or raises when ``pipeline.fail`` is set."""

    @Pipeline.run_wrapper
    def run(self, config: DictConfig) -> None:
        if config.pipeline.get("fail"):
            raise RuntimeError("pipeline broke")


def write_config(
    folder: Path,
    trials: list[dict[str, Any]],
    *,
    pipeline: str = "CliTablesPipeline",
    env: dict[str, Any] | None = None,
) -> Path:
    experiment = {"name": "clitables", "settings": {"pipeline": {"type": pipeline}}}
    return write_experiment_config(
        folder, trials, experiment, env={"workspace": "ws", **(env or {})}
    )


def ferrotrack(*args: str, columns: int = 80) -> Result:
    return CliRunner().invoke(
        build(), [*args], catch_exceptions=False, env={"COLUMNS": str(columns)}
    )


# ---- --import -------------------------------------------------------------------------------


def test_a_py_file_that_raises_while_imported_is_one_error_line(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # --import adds folders to it
    config = write_config(tmp_path / "cfg", [{"name": "a"}])
    broken = tmp_path / "broken_pipelines.py"
    broken.write_text("import nothing_of_that_name_exists_here\n")

    result = ferrotrack("experiment", "run", str(config), "--import", str(broken))

    assert result.exit_code == 2
    assert str(broken) in result.output
    assert "ModuleNotFoundError" in result.output
    assert "Traceback" not in result.output
    assert "broken_pipelines" not in sys.modules

    raising = tmp_path / "raising.py"
    raising.write_text("raise ValueError('bad constant')\n")
    result = ferrotrack("experiment", "run", str(config), "--import", str(raising))
    assert result.exit_code == 2
    assert "bad constant" in result.output
    assert str(raising) in result.output


def test_a_py_file_named_like_a_module_never_replaces_it(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # --import adds folders to it
    config = write_config(tmp_path / "cfg", [{"name": "a"}], pipeline="FromRandomPy")
    (tmp_path / "user").mkdir()  # not on sys.path: other processes never see it
    user_file = tmp_path / "user" / "random.py"
    user_file.write_text(
        "from ferrotrack.experiment import Pipeline, YAMLSerializable\n\n"
        "@YAMLSerializable.register('FromRandomPy')\n"
        "class FromRandomPy(Pipeline):\n"
        "    @Pipeline.run_wrapper\n"
        "    def run(self, config):\n"
        "        pass\n"
    )
    real_random = sys.modules["random"]

    result = ferrotrack("experiment", "run", str(config), "--import", str(user_file))

    assert result.exit_code == 0, result.output
    assert "1 completed" in result.output
    assert sys.modules["random"] is real_random
    assert random.random is real_random.random
    assert any(
        getattr(m, "__file__", None) == str(user_file.resolve()) for m in list(sys.modules.values())
    )


# ---- tables -----------------------------------------------------------------------------------


def test_run_summary_at_80_columns_keeps_status_whole(root: Path, tmp_path: Path) -> None:
    long_name = "a-rather-long-trial-name-" * 3
    config = write_config(tmp_path / "cfg", [{"name": long_name, "repeat": 2}])

    result = ferrotrack("experiment", "run", str(config), "--no-progress", columns=80)

    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "│" in line]
    assert sum("completed" in line for line in rows) == 2
    assert "comp…" not in result.output
    assert all(len(line) <= 80 for line in result.output.splitlines() if "│" in line)


def test_show_and_status_stop_at_200_rows_unless_all(root: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "cfg", [{"name": "g", "grid": {"x": list(range(250))}}])

    shown = ferrotrack("experiment", "show", str(config), columns=200)
    assert shown.exit_code == 0, shown.output
    assert "g[x=199]" in shown.output
    assert "g[x=200]" not in shown.output
    assert "… and 50 more (use --all)" in shown.output
    assert "250 trial run(s)" in shown.output

    everything = ferrotrack("experiment", "show", str(config), "--all", columns=200)
    assert "g[x=249]" in everything.output
    assert "more (use --all)" not in everything.output

    status = ferrotrack("experiment", "status", str(config), columns=200)
    assert status.exit_code == 0, status.output
    assert "… and 50 more (use --all)" in status.output
    assert "250 pending" in status.output
    status_all = ferrotrack("experiment", "status", str(config), "--all", columns=200)
    assert "g[x=249]" in status_all.output


# ---- on_error: raise --------------------------------------------------------------------------


def test_raise_says_in_the_store_only_when_the_trial_run_is(root: Path, tmp_path: Path) -> None:
    env = {"on_error": "raise"}
    failing = write_config(
        tmp_path / "failing", [{"name": "f", "settings": {"pipeline": {"fail": True}}}], env=env
    )
    result = ferrotrack("experiment", "run", str(failing), "--no-progress")
    assert result.exit_code == 1
    assert "pipeline broke (the failed trial run is in the store)" in result.output

    blocked = write_config(tmp_path / "blocked", [{"name": "bad"}], env=env)
    (blocked / "ws").mkdir()
    (blocked / "ws" / "bad").write_text("a file where the trial's folder goes")
    result = ferrotrack("experiment", "run", str(blocked), "--no-progress")
    assert result.exit_code == 1
    assert "'bad'" in result.output
    assert "in the store" not in result.output
