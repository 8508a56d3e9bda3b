"""The token a non-loopback server requires: ``Authorization: Bearer``, ``?token=`` or the
cookie set when a page was opened with ``?token=`` (so the page's own requests carry it)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["COOKIE", "TokenMiddleware"]

COOKIE = "ferrotrack_token"


class TokenMiddleware:
    """Refuses (401) every request that does not carry the token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def _given(self, request: Request) -> tuple[str | None, bool]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return header[7:].strip(), False
        query = request.query_params.get("token")
        if query is not None:
            return query, True
        return request.cookies.get(COOKIE), False

    async def __call__(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        given, from_query = self._given(request)
        if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
            return JSONResponse(
                {"detail": "a token is required: Authorization: Bearer <token> or ?token="},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        response = await call_next(request)
        if from_query:
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
        return response
