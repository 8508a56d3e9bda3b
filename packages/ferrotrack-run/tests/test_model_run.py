"""ModelRun: its fields, templates rendered by generate(), YAML loading, config copies."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ferrotrack.run import ModelRun, ModelRunError, TemplateError
from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.loading import load_backend_configs
from ferrotrack.run.yaml_scalars import load_yaml, parse_scalar

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
    assert model.config == {"lr": 0.001}
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


# ---- paths in a model file, YAML scalars, env vars -------------------------------------------


def test_relative_paths_in_a_model_file_are_relative_to_that_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "project"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "in.txt").write_text("n={{ n }}")
    (folder / "model.yaml").write_text(
        "run_id: rel\nconfig: {n: 2}\ntemplate_dir: templates\noutput_dir: out\nwork_dir: out/rel\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model = ModelRun.from_yaml(Path("..") / "project" / "model.yaml")
    assert model.template_dir is not None
    assert model.work_dir is not None
    assert model.template_dir.resolve() == folder / "templates"
    assert model.output_dir.resolve() == folder / "out"
    assert model.work_dir.resolve() == folder / "out" / "rel"
    assert (model.generate() / "in.txt").read_text() == "n=2"
    assert (folder / "out" / "rel" / "in.txt").is_file()
    # Absolute paths stay as written; fields not in the file keep their defaults.
    (folder / "abs.yaml").write_text(f"run_id: a\noutput_dir: {tmp_path / 'abs'}\n")
    absolute = ModelRun.from_yaml(folder / "abs.yaml")
    assert absolute.output_dir == tmp_path / "abs"
    assert absolute.template_dir is None


def test_a_backend_config_work_dir_is_relative_to_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "backends.yaml"
    path.write_text(
        f"backend_type: local\nwork_dir: data\n---\nbackend_type: local\nwork_dir: {tmp_path}\n"
    )
    monkeypatch.chdir(tmp_path)
    relative, absolute = load_backend_configs(Path("conf") / "backends.yaml")
    assert Path(relative.model_dump()["work_dir"]).resolve() == tmp_path / "conf" / "data"
    assert absolute.model_dump()["work_dir"] == tmp_path


def test_yaml_numbers_and_dates_in_a_model_file(root: Path, tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "run_id: scalars\ncommand: 'true'\n"
        "config: {lr: 1e-3, big: 1E5, half: .5, tiny: -2e-10, n: 3, name: '1e-3',"
        " start: 2024-01-01, at: 2024-01-01T10:30:00}\n"
    )
    model = ModelRun.from_yaml(path)
    assert model.config == {
        "lr": 0.001,
        "big": 100000.0,
        "half": 0.5,
        "tiny": -2e-10,
        "n": 3,
        "name": "1e-3",
        "start": "2024-01-01",
        "at": "2024-01-01T10:30:00",
    }
    assert model.run()  # a date used to fail here: not representable in the run's params
    tracked = model.tracked_run
    assert tracked is not None
    assert tracked.params["start"] == "2024-01-01"
    assert tracked.params["lr"] == 0.001


float_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.tuples(st.integers(-99, 99), st.integers(-30, 30), st.sampled_from("eE")).map(
        lambda t: f"{t[0]}{t[2]}{t[1]}"
    ),
    st.integers(0, 10**6).map(lambda n: f".{n}"),
)


@given(text=float_texts)
def test_every_float_text_reads_as_a_float(text: str) -> None:
    for value in (parse_scalar(text), load_yaml(f"x: {text}")["x"]):
        assert isinstance(value, float), (text, value)
        assert value == float(text)


@given(number=st.integers(-(10**12), 10**12))
def test_integers_read_as_integers(number: int) -> None:
    assert load_yaml(f"x: {number}") == {"x": number}
    assert type(parse_scalar(str(number))) is int


@given(
    moment=st.one_of(
        st.dates(min_value=datetime.date(1000, 1, 1)),
        st.datetimes(min_value=datetime.datetime(1000, 1, 1)),
        st.datetimes(
            min_value=datetime.datetime(1000, 1, 2),
            timezones=st.sampled_from(
                [datetime.UTC, datetime.timezone(datetime.timedelta(hours=5, minutes=30))]
            ),
        ),
    )
)
def test_dates_and_times_read_as_their_iso_text(moment: datetime.date) -> None:
    text = moment.isoformat()
    assert load_yaml(f"x: {text}") == {"x": text}
    assert parse_scalar(text) == text


def test_a_dotted_key_over_a_setting_that_is_not_a_mapping_is_refused() -> None:
    model = ModelRun(run_id="dots", config={"optimizer": "adam", "opt": {"lr": 0.1}})
    with pytest.raises(ModelRunError, match=r"'optimizer\.lr'.*'optimizer' is 'adam'"):
        model.with_config({"optimizer.lr": 0.1}, run_id="dots-1")
    with pytest.raises(ModelRunError, match=r"'opt\.lr\.x'.*'opt\.lr' is 0\.1"):
        model.with_config({"opt.lr.x": 1}, run_id="dots-1")
    assert model.with_config({"opt.wd": 0}, run_id="d").config["opt"] == {"lr": 0.1, "wd": 0}


def test_a_copy_that_cannot_be_a_model_run_names_the_field() -> None:
    with pytest.raises(ModelRunError, match="run_id"):
        ModelRun(run_id="x" * 126).with_config({}, run_id="x" * 130)


def test_env_var_numbers_and_booleans_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(
        "run_id: env\nenv_vars: {OMP_NUM_THREADS: 4, RATIO: 0.5, DEBUG: true, NAME: x}\n"
    )
    assert ModelRun.from_yaml(path).env_vars == {
        "OMP_NUM_THREADS": "4",
        "RATIO": "0.5",
        "DEBUG": "true",
        "NAME": "x",
    }
    conf = tmp_path / "backends.yaml"
    conf.write_text("backend_type: local\nenv_vars: {OMP_NUM_THREADS: 4, DEBUG: false}\n")
    [config] = load_backend_configs(conf)
    assert config.model_dump()["env_vars"] == {"OMP_NUM_THREADS": "4", "DEBUG": "false"}
    with pytest.raises(ValidationError, match="env_vars"):
        ModelRun(env_vars={"A": [1]})  # type: ignore[dict-item]


# ---- template folders: binary files, caches, Jinja errors -----------------------------------


def test_a_binary_file_in_a_template_folder_is_copied_as_it_is(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "__pycache__").mkdir(parents=True)
    (templates / "data").mkdir()
    blob = bytes(range(256)) * 4 + b"{{ not a template }}"
    (templates / "data" / "grid.bin").write_bytes(blob)
    (templates / "data" / "grid.bin").chmod(0o640)
    (templates / "tool").write_bytes(b"\x7fELF\xff\xfe" + b"\x00" * 32)
    (templates / "tool").chmod(0o755)
    (templates / "__pycache__" / "simulate.cpython-311.pyc").write_bytes(b"\xa7\r\r\n\x00\xff")
    (templates / "in.txt").write_text("n={{ n }}")
    model = ModelRun(run_id="bin", output_dir=tmp_path / "out", config={"n": 1},
                     template_dir=templates)  # fmt: skip
    folder = model.generate()
    assert (folder / "data" / "grid.bin").read_bytes() == blob
    assert (folder / "data" / "grid.bin").stat().st_mode & 0o777 == 0o640
    assert (folder / "tool").stat().st_mode & 0o111
    assert (folder / "in.txt").read_text() == "n=1"
    assert not (folder / "__pycache__").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{% include "missing.txt" %}', r"template 'run\.sh': .*missing\.txt"),
        ('{{ "a" + 1 }}', r"template 'run\.sh': TypeError"),
        ("n=${#name}\n", r"template 'run\.sh', line 1: Missing end of comment tag"),
    ],
)
def test_jinja_errors_of_a_template_file_name_it(tmp_path: Path, text: str, message: str) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "run.sh").write_text(text)
    model = ModelRun(run_id="jinja", output_dir=tmp_path / "out", template_dir=templates)
    with pytest.raises(TemplateError, match=message):
        model.generate()


def test_shell_syntax_is_kept_inside_a_raw_block(tmp_path: Path) -> None:
    """What docs/run/README.md says to do with ``${#var}`` in a shell script."""
    text = 'name={{ run_id }}\n{% raw %}echo "${#name}"{% endraw %}\n'
    model = ModelRun(run_id="raw", output_dir=tmp_path, templates={"run.sh": text})
    assert (model.generate() / "run.sh").read_text() == 'name=raw\necho "${#name}"\n'
