"""RFC 9457 problem details: the JSON body of an error, built in one place."""

from __future__ import annotations

from starlette.responses import JSONResponse

from .errors import LiveblogError

MEDIA_TYPE = "application/problem+json"


def problem(exc: LiveblogError, headers: dict[str, str] | None = None) -> JSONResponse:
    """`exc` as an `application/problem+json` response of its status."""
    body = {"type": exc.type, "title": exc.title, "status": exc.status, "detail": exc.detail}
    return JSONResponse(body, exc.status, headers={**exc.headers, **(headers or {})}, media_type=MEDIA_TYPE)
