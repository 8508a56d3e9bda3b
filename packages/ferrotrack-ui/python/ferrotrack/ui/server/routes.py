"""The JSON API under ``/api`` (the contract in ``docs/ui-api.md``). Every handler is a plain
``def``: the data layer reads files, so FastAPI runs it on its thread pool."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import StringConstraints

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.ui import data
from ferrotrack.ui.data.files import log_chunk, open_artifact, preview
from ferrotrack.ui.data.runs import FIRST_ANSWER_WAIT_S, RunsQuery
from ferrotrack.ui.errors import NotFound

__all__ = ["CURSOR_PATTERN", "RANGE_PATTERN", "build_router", "parse_range"]

_INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"})
_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
RANGE_PATTERN = f"^.+:(?:{_NUMBER})?:(?:{_NUMBER})?$"
"""``name:lo:hi``, either bound empty: what ``param=`` and ``metric=`` accept."""
CURSOR_PATTERN = r"^c(?:[0-9]{1,9}-[0-9]{1,19}(?:\.[0-9]{1,9}-[0-9]{1,19})*)?$"
TagSpec = Annotated[str, StringConstraints(pattern="^[^:]+:.*$")]
RangeSpec = Annotated[str, StringConstraints(pattern=RANGE_PATTERN)]
Cursor = Annotated[str, StringConstraints(pattern=CURSOR_PATTERN)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown run, experiment, metric, artifact or log: {detail}"},
    422: {"description": "A parameter that is not valid: {detail}"},
}
_SANDBOX = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


def parse_range(spec: str, what: str) -> tuple[str, tuple[float | None, float | None]]:
    """``name:lo:hi`` (either bound may be empty) as (name, (lo, hi))."""
    name, sep1, rest = spec.rpartition(":")
    name, sep2, lo = name.rpartition(":")
    if not (sep1 and sep2 and name):
        raise InvalidArgumentError(f"{what}={spec!r}: expected name:lo:hi (a bound may be empty)")
    try:
        return name, (float(lo) if lo else None, float(rest) if rest else None)
    except ValueError:
        raise InvalidArgumentError(f"{what}={spec!r}: the bounds must be numbers") from None


def _tag(spec: str) -> tuple[str, str]:
    key, sep, value = spec.partition(":")
    if not sep or not key:
        raise InvalidArgumentError(f"tag={spec!r}: expected key:value")
    return key, value


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    """The opened artifact in 256 KiB pieces (a sync iterator: Starlette reads it on its
    thread pool), closed at the end or when the client goes away."""
    with file:
        while chunk := file.read(256 * 1024):
            yield chunk


def build_router(root: Path) -> APIRouter:
    """The ``/api`` routes over store ``root``."""
    # Answers go out as JSONResponse (json.dumps): FastAPI's own encoding walks every value
    # in Python and cost ~40 ms on a 2,000-point series here.
    api = APIRouter(prefix="/api", responses=_ERRORS)

    @api.get("/experiments", summary="Experiments with their counts of runs")
    def experiments() -> Response:
        return JSONResponse(data.list_experiments(root))

    @api.get("/runs", summary="A page of the runs table, filtered and sorted")
    def runs(
        *,
        experiment: str | None = None,
        status: Literal["running", "finished", "failed", "killed", "crashed"] | None = None,
        tag: Annotated[list[TagSpec] | None, Query(description="key:value, repeatable")] = None,
        q: str | None = None,
        param: Annotated[
            list[RangeSpec] | None, Query(description="name:lo:hi, repeatable")
        ] = None,
        metric: Annotated[
            list[RangeSpec] | None, Query(description="name:lo:hi on the last value")
        ] = None,
        sort: str = "start",
        desc: bool = True,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=0, le=10_000)] = 100,
        since: str | None = None,
    ) -> Response:
        query = RunsQuery(
            experiment=experiment,
            status=status,
            tags=dict(_tag(t) for t in tag or []),
            q=q,
            params=dict(parse_range(p, "param") for p in param or []),
            metrics=dict(parse_range(m, "metric") for m in metric or []),
            sort=sort,
            desc=desc,
            offset=offset,
            limit=limit,
            since=since,
        )
        return JSONResponse(data.runs_page(root, query, wait_s=FIRST_ANSWER_WAIT_S))

    @api.get("/runs/{run_id}", summary="A run: params, events, metrics, artifacts, logs")
    def run(run_id: str) -> Response:
        return JSONResponse(data.run_detail(root, run_id))

    @api.get("/series", summary="A metric of some runs, downsampled; or only new points")
    def series(
        *,
        run: Annotated[list[str], Query(min_length=1, max_length=100)],
        name: str,
        x: Literal["step", "wall", "relative"] = "step",
        x_min: float | None = None,
        x_max: float | None = None,
        points: Annotated[int, Query(ge=4, le=100_000)] = 2000,
        after: Annotated[
            list[Cursor] | None, Query(description="one cursor, or one per run")
        ] = None,
    ) -> Response:
        cursors: list[str | None] | None = None
        if after:
            cursors = [*after] * len(run) if len(after) == 1 else [*after]
        return JSONResponse(
            data.series(
                root, run, name, x=x, x_min=x_min, x_max=x_max, points=points, after=cursors
            )
        )

    @api.get("/compare", summary="Runs side by side: params per run and those that differ")
    def compare(run: Annotated[list[str], Query(min_length=1, max_length=100)]) -> Response:
        return JSONResponse(data.compare(root, run))

    @api.get("/experiments/{name}/parallel", summary="Params against a metric, per run")
    def parallel(name: str, metric: str, agg: Literal["last", "min", "max"] = "last") -> Response:
        return JSONResponse(data.parallel(root, name, metric, agg))

    @api.get(
        "/runs/{run_id}/artifacts/{path:path}",
        summary="An artifact (download), or with preview=1 what the page shows of it",
        response_model=None,
    )
    def artifact(request: Request, run_id: str, path: str, preview_: Annotated[
            bool, Query(alias="preview")] = False) -> Response:  # fmt: skip
        raw = request.scope.get("raw_path", b"").lower()
        if b"%2f" in raw or b"%5c" in raw or b"%00" in raw:
            raise NotFound(f"artifact path {path!r} refused: encoded '/' or '\\'")
        file, size = open_artifact(root, run_id, path)
        name = path.rsplit("/", 1)[-1]
        media = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if preview_ and media not in _INLINE_IMAGES:
            with file:
                return JSONResponse(preview(file, name, size))
        headers = {"Content-Length": str(size), "Content-Security-Policy": _SANDBOX}
        if preview_:
            headers["Cache-Control"] = "no-store"
        else:
            headers["Content-Disposition"] = f"attachment; filename*=utf-8''{quote(name)}"
        return StreamingResponse(_chunks(file), media_type=media, headers=headers)

    @api.get("/runs/{run_id}/logs/{stream}", summary="A slice or the tail of a run's log")
    def logs(
        run_id: str,
        stream: str,
        offset: Annotated[int | None, Query(ge=0)] = None,
        limit: Annotated[int, Query(ge=1, le=1024 * 1024)] = 64 * 1024,
    ) -> Response:
        return JSONResponse(log_chunk(root, run_id, stream, offset, limit))

    return api
