"""``ferrotrack import mlflow``: MLflow runs read into :class:`ImportedRun` records.

Each run's points come from ``get_metric_history`` (every point; the sampled bulk API would
drop some) and are put into Arrow columns once per metric. Parents come before their
children, so the store can link them. The source names the server without credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ferrotrack.backends.mlflow.backend import INSTALL, ROWS_TAG
from ferrotrack.backends.mlflow.errors import Scrubber, public_uri
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.importing import ImportedRun
from ferrotrack.core.plugins.imports import require

if TYPE_CHECKING:
    import pyarrow as pa
    from mlflow import MlflowClient

__all__ = ["read_runs", "source_of"]

_STATUSES = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
"""MLflow status -> ferrotrack's; a run still RUNNING or SCHEDULED is imported as killed."""
_DROPPED_TAGS = frozenset({"mlflow.runName", "mlflow.parentRunId"})
"""Tags that become the run's name and parent instead."""
_PAGE = 1000


def source_of(tracking_uri: str, run_id: str) -> str:
    """``mlflow:<uri without credentials>#<run id>``: the imported run's identity."""
    return f"mlflow:{public_uri(tracking_uri)}#{run_id}"


def read_runs(tracking_uri: str, experiment: str | None = None) -> Iterator[ImportedRun]:
    """Every active run of ``experiment`` (default: of every active experiment) at
    ``tracking_uri``, parents before children, with params, tags, status, times and every
    point."""
    mlflow = require("mlflow", "ferrotrack import mlflow", install=INSTALL)
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    scrub = Scrubber(())
    where = public_uri(tracking_uri)
    try:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        if experiment is not None:
            found = client.get_experiment_by_name(experiment)
            if found is None:
                raise InvalidArgumentError(
                    f"import mlflow: no experiment {experiment!r} at {where}: check the name "
                    "(`mlflow experiments search`) or leave out --experiment"
                )
            experiments = [found]
        else:
            experiments = _all_experiments(client, ViewType.ACTIVE_ONLY)
        for exp in experiments:
            runs = _all_runs(client, str(exp.experiment_id), ViewType.ACTIVE_ONLY)
            for run in _parents_first(runs):
                yield _imported(client, tracking_uri, exp.name, run)
    except MlflowException as exc:
        text = scrub(str(exc)).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise InvalidArgumentError(
            f"import mlflow: cannot read runs from {where} ({text}): check --tracking-uri "
            "and that the server is up"
        ) from None


def _all_experiments(client: MlflowClient, view: int) -> list[Any]:
    out: list[Any] = []
    token: str | None = None
    while True:
        page = client.search_experiments(view_type=view, max_results=_PAGE, page_token=token)
        out += list(page)
        token = page.token
        if not token:
            return out


def _all_runs(client: MlflowClient, experiment_id: str, view: int) -> list[Any]:
    out: list[Any] = []
    token: str | None = None
    while True:
        page = client.search_runs(
            [experiment_id],
            run_view_type=view,
            max_results=_PAGE,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        out += list(page)
        token = page.token
        if not token:
            return out


def _parents_first(runs: list[Any]) -> list[Any]:
    """``runs`` ordered so that a parent (``mlflow.parentRunId``) precedes its children."""
    by_id = {r.info.run_id: r for r in runs}
    done: set[str] = set()
    out: list[Any] = []
    for run in runs:
        chain = []
        current: Any = run
        while current is not None and current.info.run_id not in done:
            chain.append(current)
            done.add(current.info.run_id)
            current = by_id.get(current.data.tags.get("mlflow.parentRunId", ""))
        out += reversed(chain)
    return out


def _imported(client: MlflowClient, uri: str, experiment: str, run: Any) -> ImportedRun:
    info, data = run.info, run.data
    parent = data.tags.get("mlflow.parentRunId")
    return ImportedRun(
        source=source_of(uri, info.run_id),
        experiment=experiment,
        name=info.run_name or info.run_id[:8],
        points=_points(client, info.run_id, sorted(data.metrics)),
        params={k: _param_value(v) for k, v in data.params.items()},
        tags={
            k: v
            for k, v in data.tags.items()
            if k not in _DROPPED_TAGS and not k.startswith(ROWS_TAG)
        },
        status=_STATUSES.get(info.status, "killed"),
        started=info.start_time * 1_000_000 if info.start_time else None,
        ended=info.end_time * 1_000_000 if info.end_time else None,
        parent_source=source_of(uri, parent) if parent else None,
        tool="mlflow",
    )


def _points(client: MlflowClient, run_id: str, keys: list[str]) -> pa.Table:
    """Every point of every metric of the run, one Arrow column each."""
    import numpy as np
    import pyarrow as pa

    names: list[Any] = []
    steps: list[Any] = []
    stamps: list[Any] = []
    values: list[Any] = []
    for key in keys:
        history = client.get_metric_history(run_id, key)
        n = len(history)
        names.append(pa.array([key], pa.string()).take(pa.array(np.zeros(n, np.int64))))
        steps.append(np.fromiter((m.step for m in history), np.int64, n))
        stamps.append(np.fromiter((m.timestamp for m in history), np.int64, n) * 1_000_000)
        values.append(np.fromiter((m.value for m in history), np.float64, n))
    if not keys:
        names, steps, stamps, values = [pa.array([], pa.string())], [[]], [[]], [[]]
    return pa.table(
        {
            "name": pa.chunked_array(names, pa.string()),
            "step": pa.array(np.concatenate(steps), pa.int64()),
            "timestamp": pa.array(np.concatenate(stamps), pa.int64()),
            "value": pa.array(np.concatenate(values), pa.float64()),
        }
    )


def _param_value(text: str) -> Any:
    """A param as its Python value when MLflow's text is exactly ``str`` of one (``"3"``,
    ``"0.1"``, ``"True"``); other text stays text."""
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if str(value) == text:
            return value
    return text
