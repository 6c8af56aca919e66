"""Absolute URLs: one origin, `LIVEBLOG_PUBLIC_URL` when set, else the request's own.

Pages and feeds are rendered once and shared by every reader (see `caching.RenderCache`). A render
that held the request's origin would be one cache entry per Host header, and any client may send
any Host. So when no public URL is set, a shared render holds `PLACEHOLDER` where the origin goes,
and `localize` puts the request's origin there on the way out: the Host never reaches the cache
key, junk Hosts cannot evict or poison a page, and those responses carry `Vary: Host`. The Host is
accepted only when it is a host name or an IP address with an optional port; then it needs no
escaping in HTML, JSON or XML, so one byte-for-byte replacement is right in every context.
"""

from __future__ import annotations

import re
import secrets

from starlette.requests import Request

from .errors import BadRequest
from .state import state_of

# An origin no request can carry (`.invalid` is reserved, RFC 6761) and no update can contain:
# random per process, as the renders that hold it are.
PLACEHOLDER = f"http://origin-{secrets.token_hex(16)}.invalid"
_PLACEHOLDER = PLACEHOLDER.encode()
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]{{2,45}}\])(?::[0-9]{{1,5}})?")


def request_origin(request: Request) -> str:
    """`scheme://host[:port]` of this request; 400 when its Host header is not a host."""
    host = request.headers.get("host")
    if host is None:
        server = request.scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    if len(host) > 300 or not _HOST.fullmatch(host):
        raise BadRequest("the Host header is not a host name")
    return f"{request.scope.get('scheme', 'http')}://{host}"


def shared_origin(request: Request) -> str:
    """The origin to render into a page or feed shared by every Host: the public URL, or the
    placeholder that `localize` replaces."""
    return state_of(request).settings.public_url or PLACEHOLDER


def varies(request: Request) -> bool:
    """True when absolute URLs in a response depend on the Host (no public URL is set)."""
    return state_of(request).settings.public_url is None


def localize(request: Request, body: bytes) -> bytes:
    """A shared render with the request's origin in place of the placeholder."""
    if not varies(request):
        return body
    return body.replace(_PLACEHOLDER, request_origin(request).encode())


def vary_host(request: Request, headers: dict[str, str]) -> dict[str, str]:
    """`headers` plus `Vary: Host` when the response's absolute URLs follow the Host."""
    return {**headers, "vary": "Host"} if varies(request) else headers


def location(request: Request, path: str) -> str:
    """A `Location` header: absolute on the public URL when one is set, else the path alone
    (relative references are valid there, RFC 9110 10.2.2, and need no `Vary: Host`)."""
    public = state_of(request).settings.public_url
    return public + path if public else path
