"""``noop``: the output folder and expected files are checked, as seed 003's guide calls it."""

from __future__ import annotations

from pathlib import Path

import pytest
from postprocess_fixtures import StubModelRun

from ferrotrack.postprocess.noop import NoopPostprocessor


def test_existing_output_folder_succeeds(root: Path, tmp_path: Path) -> None:
    model = StubModelRun("m1", tmp_path / "out")
    model.generate()
    result = NoopPostprocessor().process(model)
    assert result["success"] is True
    assert result["processor"] == "noop"
    assert result["run_id"] == "m1"
    assert result["output_dir"] == str(tmp_path / "out" / "m1")
    assert "m1" in result["message"]


def test_missing_output_folder_fails_naming_it(root: Path, tmp_path: Path) -> None:
    model = StubModelRun("never-ran", tmp_path / "out")
    result = NoopPostprocessor().process(model)
    missing = str(tmp_path / "out" / "never-ran")
    assert result["success"] is False
    assert result["missing"] == [missing]
    assert missing in result["error"]
    assert "does not exist" in result["message"]


def test_a_file_where_the_folder_should_be_fails(root: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "m1").write_text("not a folder")
    result = NoopPostprocessor().process(StubModelRun("m1", tmp_path / "out"))
    assert result["success"] is False
    assert "is not a folder" in result["message"]


def test_seed_calls_with_custom_output_dir(root: Path, tmp_path: Path) -> None:
    """The guide's second call: ``validate_outputs=True, output_dir="./custom_output"``
    checks that folder itself (relative to the working folder)."""
    model = StubModelRun("m1", tmp_path / "out")
    result = NoopPostprocessor().process(model, validate_outputs=True, output_dir="./custom_output")
    assert result["success"] is False
    assert result["missing"] == ["custom_output"]
    Path("custom_output").mkdir()
    result = NoopPostprocessor().process(model, validate_outputs=True, output_dir="./custom_output")
    assert result["success"] is True, result


def test_expected_files_and_patterns(root: Path, tmp_path: Path) -> None:
    model = StubModelRun("m1", tmp_path / "out")
    model.generate()
    (model.folder / "fields").mkdir()
    (model.folder / "fields" / "t0001.nc").write_text("x")
    ok = NoopPostprocessor().process(model, expect=["input.txt", "fields/*.nc"])
    assert ok["success"] is True, ok
    assert ok["checked"] == ["input.txt", "fields/*.nc"]
    bad = NoopPostprocessor().process(model, expect=["input.txt", "log.txt", "*.grib"])
    assert bad["success"] is False
    assert bad["missing"] == [str(model.folder / "log.txt"), str(model.folder / "*.grib")]
    assert "log.txt, *.grib" in bad["message"]


def test_validate_outputs_false_checks_nothing(root: Path, tmp_path: Path) -> None:
    result = NoopPostprocessor().process(
        StubModelRun("nowhere", tmp_path / "out"), validate_outputs=False
    )
    assert result["success"] is True
    assert "nothing checked" in result["message"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"validate_outputs": "yes"}, "validate_outputs"), ({"expect": "a.nc"}, "expect")],
)
def test_wrong_types_are_named(
    root: Path, tmp_path: Path, kwargs: dict[str, object], field: str
) -> None:
    result = NoopPostprocessor().process(StubModelRun("m1", tmp_path), **kwargs)
    assert result["success"] is False
    assert result["error"] == "invalid arguments"
    assert f"{field}:" in result["message"]


@pytest.mark.parametrize("entry", ["/etc/hostname", "../m1-sibling/x", "a/../../x", ""])
def test_expect_outside_the_folder_is_refused(root: Path, tmp_path: Path, entry: str) -> None:
    """An absolute path or one climbing out would check a file the model run did not
    write (``/etc/hostname`` exists on every machine)."""
    model = StubModelRun("m1", tmp_path / "out")
    model.generate()
    (tmp_path / "out" / "m1-sibling").mkdir()
    (tmp_path / "out" / "m1-sibling" / "x").write_text("not the model run's")
    result = NoopPostprocessor().process(model, expect=["input.txt", entry])
    assert result["success"] is False, result
    assert result["error"] == "invalid arguments"
    assert (
        "expect.1: Value error, expected a path relative to the output folder"
        in (result["message"])
    )


def test_expect_may_go_down_and_glob(root: Path, tmp_path: Path) -> None:
    model = StubModelRun("m1", tmp_path / "out")
    model.generate()
    (model.folder / "fields").mkdir()
    (model.folder / "fields" / "hs.nc").write_bytes(b"")
    expect = ["fields/hs.nc", "fields/*.nc", "./input.txt"]
    result = NoopPostprocessor().process(model, expect=expect)
    assert result["success"] is True, result
