"""ModelRun: its fields, templates rendered by generate(), YAML loading, config copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ferrotrack.run import ModelRun, ModelRunError, TemplateError
from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.loading import load_backend_configs

scalars = st.one_of(
    st.integers(-(10**9), 10**9),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(
        st.characters(categories=["L", "N", "P", "S", "Zs"], exclude_characters="{}%#"),
        max_size=20,
    ),
)
keys = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(config=st.dictionaries(keys, scalars, min_size=1, max_size=6))
def test_templates_render_every_config_value(tmp_path_factory: Any, config: dict[str, Any]) -> None:
    folder = tmp_path_factory.mktemp("gen")
    body = "".join(f"{k}={{{{ {k} }}}}\n" for k in config)
    model = ModelRun(run_id="gen", output_dir=folder, config=config, templates={"in.txt": body})
    written = model.generate()
    lines = (written / "in.txt").read_text().splitlines(keepends=True)
    assert [line.split("=", 1)[0] for line in lines] == list(config)
    for line, value in zip(lines, config.values(), strict=True):
        assert line.split("=", 1)[1] == f"{value}\n"


def test_a_template_folder_keeps_paths_and_modes(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "sub").mkdir(parents=True)
    (templates / "sub" / "deep.txt").write_text("{{ config.a.b }}")
    (templates / "run.sh").write_text("#!/bin/sh\necho {{ run_id }}\n")
    (templates / "run.sh").chmod(0o755)
    model = ModelRun(
        run_id="tree", output_dir=tmp_path / "out", config={"a": {"b": 3}}, template_dir=templates
    )
    folder = model.generate()
    assert (folder / "sub" / "deep.txt").read_text() == "3"
    assert (folder / "run.sh").read_text() == "#!/bin/sh\necho tree\n"
    assert (folder / "run.sh").stat().st_mode & 0o111


@pytest.mark.parametrize(
    ("templates", "message"),
    [
        ({"a.txt": "{{ nope }}"}, r"template 'a.txt': 'nope' is undefined"),
        ({"a.txt": "{% if %}"}, r"template 'a.txt', line 1"),
        ({"../escape.txt": "x"}, r"outside"),
    ],
)
def test_template_errors_name_the_template(
    tmp_path: Path, templates: dict[str, str], message: str
) -> None:
    model = ModelRun(run_id="bad", output_dir=tmp_path, templates=templates)
    with pytest.raises(TemplateError, match=message):
        model.generate()


@pytest.mark.parametrize("run_id", ["", "../x", "a b", "-lead", "x" * 129])
def test_a_bad_run_id_is_refused(run_id: str) -> None:
    with pytest.raises(ValidationError, match="run_id"):
        ModelRun(run_id=run_id)


def test_with_config_copies_and_reaches_into_nested_keys() -> None:
    model = ModelRun(run_id="base", config={"opt": {"lr": 0.1, "wd": 0.0}, "n": 1})
    copy = model.with_config({"opt.lr": 0.01, "new.deep": True}, run_id="base-1")
    assert copy.config == {"opt": {"lr": 0.01, "wd": 0.0}, "n": 1, "new": {"deep": True}}
    assert model.config == {"opt": {"lr": 0.1, "wd": 0.0}, "n": 1}
    assert copy.run_id == "base-1"


def test_from_yaml_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "model.yaml"
    good.write_text("run_id: y1\ncommand: echo hi\nconfig:\n  lr: 1e-3\ntimeout: 5\n")
    model = ModelRun.from_yaml(good)
    assert (model.run_id, model.command, model.timeout) == ("y1", "echo hi", 5.0)
    bad = tmp_path / "bad.yaml"
    bad.write_text("run_id: y1\ncomand: echo hi\n")
    with pytest.raises(ModelRunError, match=r"bad.yaml: invalid model run: comand"):
        ModelRun.from_yaml(bad)
    with pytest.raises(ModelRunError, match="cannot read"):
        ModelRun.from_yaml(tmp_path / "absent.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ModelRunError, match="expected a mapping"):
        ModelRun.from_yaml(tmp_path / "list.yaml")


def test_backend_configs_load_from_several_documents(tmp_path: Path) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text("backend_type: local\ntimeout: 3\n---\nbackend_type: local\nprocesses: 2\n")
    first, second = load_backend_configs(path)
    assert first.model_dump()["timeout"] == 3.0
    assert second.model_dump()["processes"] == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("backend_type: local\ntimeout: soon\n", r"backend 'local': invalid config in .*: timeout"),
        ("backend_type: local\nbogus: 1\n", r"bogus: Extra inputs are not permitted"),
        ("timeout: 3\n", r"missing backend_type \(expected one of: .*local"),
        ("backend_type: nowhere\n", r"unknown backend_type 'nowhere'; installed run backends: "),
        ("backend_type: local\n---\n- 1\n", r"\(document 2\): expected a mapping"),
        ("", r"holds no backend config"),
        ("a: [\n", r"not valid YAML"),
    ],
)
def test_backend_config_errors_name_the_file_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "backends.yaml"
    path.write_text(text)
    with pytest.raises(BackendConfigError, match=message):
        load_backend_configs(path)


def test_a_model_that_ran_can_still_be_copied(root: Path) -> None:
    """Sweeps copy a model run after it ran: its tracked run is not copied along."""
    model = ModelRun(run_id="ran", output_dir=root / "m", config={"n": {"k": 1}}, command="true")
    assert model.run()
    copy = model.with_config({"n.k": 2}, run_id="ran-1")
    assert copy.tracked_run is None
    assert model.tracked_run is not None
    copy.env_vars["X"] = "1"
    assert model.env_vars == {}
    assert (model.config, copy.config) == ({"n": {"k": 1}}, {"n": {"k": 2}})
