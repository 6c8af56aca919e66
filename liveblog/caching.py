"""HTTP caching of public reads: a strong ETag of the body and a short Cache-Control.

Pages, feeds and the JSON reads go out through `cacheable`, so a CDN can absorb page views and
revalidate with `If-None-Match`.
"""

from __future__ import annotations

import hashlib

from starlette.requests import Request
from starlette.responses import Response

CACHE_CONTROL = "public, max-age=2"
# What a 304 repeats of the full response (RFC 9110 15.4.5), plus the embed page's own CSP: a
# cache merges a 304's headers into the stored response, so the 304 must not carry another policy.
_KEPT_ON_304 = ("cache-control", "etag", "vary", "content-location", "expires", "content-security-policy")


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison: `W/"x"` matches `"x"`; `*` matches anything."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def cacheable(request: Request, response: Response) -> Response:
    """Add an ETag and a short Cache-Control to a rendered 200 response; 304 when it matches.

    A request with a session (a logged-in editor) gets `private`: the session middleware adds a
    Set-Cookie to its response, which no shared cache may keep and hand to other readers.
    """
    if response.status_code != 200 or request.method not in ("GET", "HEAD"):
        return response
    etag = etag_of(bytes(response.body))
    response.headers["etag"] = etag
    private = bool(request.scope.get("session"))
    response.headers["cache-control"] = (
        CACHE_CONTROL.replace("public", "private") if private else CACHE_CONTROL
    )
    if not etag_matches(request.headers.get("if-none-match"), etag):
        return response
    headers = {name: value for name, value in response.headers.items() if name in _KEPT_ON_304}
    return Response(status_code=304, headers=headers)
