"""The dask run backend against a real dask cluster (one for the session, see engine_fixtures):
success, the child's own logging, failures, timeouts, fan-out with a limit, an unreachable
address, bad configs and a missing library."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fixtures import (
    check_child_log,
    check_failure,
    check_fan_out,
    check_missing_library,
    check_success,
    check_timeout,
    check_unreachable,
    dask_session,
)

from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.model import ModelRun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def dask_engine() -> Iterator[dict[str, Any]]:
    """The session's dask cluster: the backend options that reach it."""
    yield from dask_session()


def test_a_model_run_succeeds_with_its_output_and_status(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any]
) -> None:
    check_success("dask", dask_engine, tmp_path / "out")


def test_the_commands_own_logging_lands_in_the_run(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any]
) -> None:
    check_child_log("dask", dask_engine, tmp_path / "out")


def test_a_non_zero_exit_is_a_failed_run(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any]
) -> None:
    check_failure("dask", dask_engine, tmp_path / "out")


def test_a_timeout_ends_the_process_group(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any]
) -> None:
    check_timeout("dask", dask_engine, tmp_path / "out")


def test_run_many_keeps_the_limit_and_the_order(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any]
) -> None:
    check_fan_out("dask", dask_engine, tmp_path)


def test_an_unreachable_address_fails_each_run_with_the_reason(
    root: Path, tmp_path: Path, dask_engine: dict[str, Any]
) -> None:
    check_unreachable("dask", tmp_path / "out")
    # the session's cluster is untouched by the failed attempt
    check_success("dask", dask_engine, tmp_path / "again")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"nonsense": 1}, "nonsense"),
        ({"address": 12}, "address"),
        ({"address": "http://127.0.0.1:1"}, "address"),
        ({"connect_timeout": "soon"}, "connect_timeout"),
        ({"resources": {"GPU": "many"}}, "resources.GPU"),
    ],
)
def test_a_bad_config_names_the_field(
    root: Path, tmp_path: Path, options: dict[str, Any], field: str
) -> None:
    model = ModelRun(run_id="x", command="true", output_dir=tmp_path / "out")
    with pytest.raises(BackendConfigError, match=f"{field}:"):
        model.run(backend="dask", **options)
    assert model.tracked_run is None  # nothing started


def test_a_missing_library_names_the_extra(root: Path) -> None:
    check_missing_library("dask", "distributed")
