"""The API fuzzed from its own ``/openapi.json`` (schemathesis) on a real server over a
store with runs of every kind: whatever the input, no 500 and answers that match the
schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import store_fixtures as sf
from hypothesis import HealthCheck, given, settings
from ui_server import UiServer

from ferrotrack.core.testing import isolated_root


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    tmp = tmp_path_factory.mktemp("fuzz")
    with pytest.MonkeyPatch.context() as mp:
        for root in isolated_root(tmp, mp):
            sf.make_runs(root, 3)
            sf.failed_run(root)
            sf.run_with_artifacts(root, tmp / "work")
            sf.corrupt_run(root, experiment="broken")
            sf.html_run(root, experiment="html")
            with UiServer(root) as server:
                yield schemathesis.openapi.from_url(server.url + "/openapi.json")


OPERATIONS = [
    ("GET", "/api/experiments"), ("GET", "/api/runs"), ("GET", "/api/runs/{run_id}"),
    ("GET", "/api/series"), ("GET", "/api/compare"), ("GET", "/api/experiments/{name}/parallel"),
    ("GET", "/api/runs/{run_id}/artifacts/{path}"), ("GET", "/api/runs/{run_id}/logs/{stream}"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_api_never_fails(api_schema: schemathesis.BaseSchema, method: str, path: str) -> None:
    """schemathesis' pytest plugin does not run on this pytest: each operation's strategy
    is driven by hypothesis here instead."""
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        response = case.call(timeout=60)
        assert response.status_code < 500, (case.path, case.query, response.text[:500])
        case.validate_response(response)

    check()


def test_schema_lists_every_route(api_schema: schemathesis.BaseSchema) -> None:
    paths = set(api_schema.raw_schema["paths"])
    assert paths == {
        "/api/experiments", "/api/runs", "/api/runs/{run_id}", "/api/series", "/api/compare",
        "/api/experiments/{name}/parallel", "/api/runs/{run_id}/artifacts/{path}",
        "/api/runs/{run_id}/logs/{stream}"}  # fmt: skip
