"""DockerConfig: bad input fails before anything starts, naming the field (no daemon needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.run.configs import builtin_config_class
from ferrotrack.run.configs.docker import DockerConfig, parse_volume
from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.loading import load_backend_configs
from ferrotrack.run.model import ModelRun


def _model(tmp: Path) -> ModelRun:
    return ModelRun(run_id="bad-config", output_dir=tmp / "out", command="true")


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"image": "x", "colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"image": "x", "cpu": "many"}, "cpu: Input should be a valid integer"),
        ({"image": "x", "cpu": 0}, "cpu: Input should be greater than or equal to 1"),
        ({"image": "x", "volumes": "./data:/data"}, "volumes: Input should be a valid list"),
        ({"image": "x", "volumes": ["data"]}, "volumes: Value error, expected 'host:container"),
        ({"image": "x", "volumes": ["./d:rel"]}, "the container path must be absolute"),
        ({"image": "x", "volumes": ["./d:/d:rx"]}, "unknown volume option(s) ['rx']"),
        ({"image": "x", "env_vars": {"A-B": "1"}}, "env_vars: Value error, expected names"),
        ({"image": "x", "remove": "perhaps"}, "remove: Input should be a valid boolean"),
        ({}, "set exactly one of 'image' (to run) or 'dockerfile' (to build)"),
        ({"image": "x", "dockerfile": "D"}, "set exactly one of 'image'"),
        ({"image": "x", "build_args": {"V": "1"}}, "'build_context' and 'build_args' need"),
        ({"image": " "}, "image: Value error, expected a non-empty string"),
        ({"dockerfile": "D", "build_args": {"DOCKER_HOST": "tcp://x"}}, "['DOCKER_HOST'] are read"),
        ({"dockerfile": "D", "build_args": {"PATH": "/x"}}, "['PATH'] are read by the docker"),
        ({"dockerfile": "D", "build_args": {"LD_PRELOAD": "x"}}, "['LD_PRELOAD'] are read"),
    ],
)
def test_a_bad_config_names_the_field(
    root: Path, tmp_path: Path, options: dict[str, Any], named: str
) -> None:
    model = _model(tmp_path)
    with pytest.raises(BackendConfigError) as caught:
        model.run(backend="docker", **options)
    message = str(caught.value)
    assert message.startswith("backend 'docker': invalid config: ")
    assert named in message
    assert isinstance(caught.value, InvalidArgumentError)
    assert model.tracked_run is None  # nothing started, nothing recorded
    assert not model.staging_dir.exists()


def test_a_bad_value_is_not_echoed(root: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendConfigError) as caught:
        _model(tmp_path).run(backend="docker", image="x", cpu="hunter2-secret")
    assert "hunter2" not in str(caught.value)


def test_config_defaults_and_registration() -> None:
    config = DockerConfig(image="rompy/schism:latest")
    assert builtin_config_class("docker") is DockerConfig
    assert (config.backend_type, config.network, config.remove, config.init) == (
        "docker",
        "none",
        True,
        True,
    )
    assert (config.cpu, config.mpiexec, config.volumes) == (None, None, [])
    assert DockerConfig.model_validate({"backend_type": "docker", "dockerfile": "D"}).dockerfile


def test_env_var_values_are_not_recorded() -> None:
    config = DockerConfig(image="i", env_vars={"TOKEN": "s3cret"}, build_args={})
    assert config.recorded()["env_vars"] == ["TOKEN"]


def test_volume_parsing() -> None:
    ro = parse_volume("./data:/data:ro")
    assert (ro.host, ro.container, ro.read_only, ro.is_path) == ("./data", "/data", True, True)
    named = parse_volume("cache:/cache")
    assert (named.is_path, named.read_only) == (False, False)
    assert parse_volume("/abs:/x:ro,z").options == ("ro", "z")


def test_docker_configs_from_yaml(tmp_path: Path) -> None:
    good = tmp_path / "backends.yaml"
    good.write_text(
        "backend_type: local\ntimeout: 10\n---\n"
        "backend_type: docker\nimage: rompy/schism:latest\ncpu: 4\n"
        "volumes: ['./data:/data:ro']\nenv_vars: {MODEL_CONFIG: production}\n"
    )
    local, docker = load_backend_configs(good)
    assert local.model_dump()["backend_type"] == "local"
    assert isinstance(docker, DockerConfig)
    assert (docker.image, docker.cpu, docker.volumes) == (
        "rompy/schism:latest",
        4,
        ["./data:/data:ro"],
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("backend_type: docker\nimage: x\ncpu: [1]\n")
    with pytest.raises(
        BackendConfigError, match=rf"in {bad}: cpu: Input should be a valid integer"
    ):
        load_backend_configs(bad)


def test_build_arg_values_are_not_recorded() -> None:
    config = DockerConfig(dockerfile=Path("D"), build_args={"TOKEN": "s3cret", "V": "1"})
    recorded = config.recorded()
    assert recorded["build_args"] == ["TOKEN", "V"]
    assert "s3cret" not in str(recorded)
