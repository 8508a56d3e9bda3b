"""``create_app(root, token=None)``: the FastAPI app over one store (read-only)."""

from __future__ import annotations

import contextlib
import os
import threading
from importlib.util import find_spec
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from ferrotrack.core.errors import FerrotrackError, InvalidArgumentError
from ferrotrack.core.store.layout import resolve_root
from ferrotrack.ui.errors import NotFound
from ferrotrack.ui.server.auth import TokenMiddleware
from ferrotrack.ui.server.routes import build_router

__all__ = ["create_app", "plotly_js", "static_dir"]

_MISSING_PAGE = (
    "<!doctype html><meta charset=utf-8><title>ferrotrack</title>"
    "<p>The page's files are not installed; the JSON API is at <a href=/docs>/docs</a>."
)


def static_dir() -> Path:
    """The folder of the page's files (``ferrotrack/ui/static``)."""
    return Path(__file__).resolve().parent.parent / "static"


def plotly_js() -> Path | None:
    """plotly.js as the ``plotly`` wheel carries it (found without importing plotly)."""
    spec = find_spec("plotly")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "package_data" / "plotly.min.js"
    return path if path.is_file() else None


def _warm(store: Path) -> None:
    """Builds the runs index of ``store`` (most of a second for 10,000 runs) and imports
    the segment reader (pyarrow's Parquet module: a few hundred ms the first chart would
    otherwise wait for)."""
    from ferrotrack.ui.data.runs import index_for

    with contextlib.suppress(Exception):  # a store that cannot be read now: on request
        index_for(store).refresh()
    import pyarrow.parquet  # noqa: F401


def create_app(
    root: str | os.PathLike[str] | None, token: str | None = None, *, warm: bool = True
) -> FastAPI:
    """The app serving store ``root`` (resolved as everywhere else); with ``token``, every
    request must carry it (see :mod:`ferrotrack.ui.server.auth`). With ``warm``, the runs
    index is built on a thread right away, so the first page does not wait for it."""
    store = resolve_root(root)
    app = FastAPI(
        title="ferrotrack ui",
        summary="Read-only JSON API over a ferrotrack store.",
        version="0.1.0",
    )
    app.state.root = store
    if token is not None:
        app.middleware("http")(TokenMiddleware(token))

    @app.middleware("http")
    async def _headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=404)

    @app.exception_handler(InvalidArgumentError)
    async def _invalid(_: Request, exc: InvalidArgumentError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(FerrotrackError)
    async def _store(_: Request, exc: FerrotrackError) -> JSONResponse:
        return JSONResponse({"detail": f"{type(exc).__name__}: {exc}"}, status_code=409)

    app.include_router(build_router(store))
    if warm:
        threading.Thread(
            target=_warm, args=(store,), name="ferrotrack-ui-warm", daemon=True
        ).start()

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        page = static_dir() / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html")
        return HTMLResponse(_MISSING_PAGE)

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly() -> Response:
        path = plotly_js()
        if path is None:
            raise NotFound("plotly.js is missing: pip install plotly (ferrotrack-ui needs it)")
        return FileResponse(path, media_type="text/javascript")

    @app.get("/static/{path:path}", include_in_schema=False)
    def static(path: str) -> Response:
        base = static_dir().resolve()
        target = (base / path).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            raise NotFound(f"no file {path!r}")
        return FileResponse(target)

    return app
