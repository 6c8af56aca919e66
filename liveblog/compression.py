"""Content-Encoding: which coding a request accepts, compressing a body, and the middleware that
compresses the responses nobody else does.

Who compresses what:
- a response with an `ETag` is compressed by whoever made the ETag, since they answer its 304s
  and each coding needs its own tag (`tagged`): `caching.cacheable` (the JSON reads, `/`), the
  `caching.RenderCache` (pages, feeds, /openapi.json, /docs: compressed once per render and kept
  beside it) and `assets.Assets` (static files: compressed once per file);
- the rest (error pages, problem+json, API writes) goes through `Compression`, per request: it
  compresses a body of a compressible type, of at least `MIN_BYTES`, sent whole, unless the
  request has a session. A page for a session (the desk, the login form) holds a CSRF token beside
  text the request may choose (`?q=`, `next`): compressed, its size would tell a third party
  watching the wire, request after request, how much of its guess matched the token (BREACH). The
  shared renders and JSON reads hold no secret, so they are compressed for everyone.

Never compressed: event streams (`text/event-stream`: the readers' streams do not even pass the
middleware, see `dispatch`), WebSockets, a response that says `no-transform`, one already
encoded, 204/206/304 and bodies under `MIN_BYTES`. Every response of a compressible type gets
`Vary: Accept-Encoding`, compressed or not, so a cache keeps the codings apart.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable

import anyio.to_thread
import brotli
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics

# The codings we serve, best first: on equal q-values the first one listed wins.
CODINGS = ("br", "gzip")
MIN_BYTES = 1024  # below it, the coding's own overhead and the CPU are not worth the bytes saved
THREAD_BYTES = 64 * 1024  # bodies at least this large are compressed on a worker thread
# Levels by what is compressed. Per response: fast (brotli 4 is about gzip 6's speed, and
# smaller). A render, once per state of its blog, on the one render thread: brotli 5 (0.1 s for a
# 1 MB page of text on the shared 2-core machine, where 9 took 0.27 s and gzip 9 1.0 s). A static
# file, once per process: the strongest that stays quick (brotli 9: 0.26 s for Swagger UI's 1.7 MB
# bundle; 11 took 6.4 s).
LEVELS = {
    "response": {"br": 4, "gzip": 6},
    "render": {"br": 5, "gzip": 6},
    "static": {"br": 9, "gzip": 9},
}
_ALIASES = {"x-gzip": "gzip"}
_MAX_ACCEPT_ITEMS = 32  # a longer Accept-Encoding is read up to here, never refused
COMPRESSIBLE = frozenset(
    {
        "text/html",
        "text/css",
        "text/javascript",
        "text/plain",
        "text/xml",
        "application/javascript",
        "application/json",
        "application/problem+json",
        "application/feed+json",
        "application/atom+xml",
        "application/xml",
        "application/manifest+json",
        "image/svg+xml",
    }
)


def compressible(content_type: str | None) -> bool:
    """True for the text types we compress (never `text/event-stream`)."""
    return (content_type or "").split(";")[0].strip().lower() in COMPRESSIBLE


def negotiate(accept_encoding: str | None) -> str | None:
    """The coding to send for this Accept-Encoding (RFC 9110 12.5.3), None for identity.

    The highest q-value of ours wins (`*` stands for those not named, `x-gzip` for gzip); on a tie
    the first of `CODINGS`; identity only if named (or by `*`) with a higher q. No header, an empty
    one, or nothing of ours with q > 0: identity. Malformed items are skipped, never refused.
    """
    if not accept_encoding:
        return None
    weights: dict[str, float] = {}
    for item in accept_encoding.split(",", _MAX_ACCEPT_ITEMS)[:_MAX_ACCEPT_ITEMS]:
        name, _, params = item.partition(";")
        name = name.strip().lower()
        name = _ALIASES.get(name, name)
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
        if name and 0.0 <= q <= 1.0:
            weights[name] = max(q, weights.get(name, 0.0)) if name in weights else q
    star = weights.get("*")
    best, best_q = None, 0.0
    for coding in CODINGS:
        q = weights.get(coding, star if star is not None else 0.0)
        if q > best_q:
            best, best_q = coding, q
    identity = weights.get("identity", star)
    if best is not None and identity is not None and identity > best_q:
        return None
    return best


def choose(headers: Headers, content_type: str | None, size: int) -> str | None:
    """The coding for a body of `content_type` and `size` bytes asked for with these request
    headers: None when it is not worth compressing or the client takes none of ours."""
    if size < MIN_BYTES or not compressible(content_type):
        return None
    return negotiate(headers.get("accept-encoding"))


def encode(body: bytes, coding: str, kind: str = "response") -> bytes:
    """`body` compressed with `coding` ("br" or "gzip") at the level for its `kind` (`LEVELS`)."""
    level = LEVELS[kind][coding]
    if coding == "br":
        return bytes(brotli.compress(body, quality=level))
    if coding == "gzip":
        return gzip.compress(body, compresslevel=level, mtime=0)  # mtime 0: the same bytes each time
    raise ValueError(f"unknown coding {coding!r}")


async def encode_off_loop(body: bytes, coding: str) -> bytes:
    """`encode` per response, on a worker thread when the body is large enough to hold the loop."""
    metrics.COMPRESSIONS.labels("response", coding).inc()
    if len(body) < THREAD_BYTES:
        return encode(body, coding)
    return await anyio.to_thread.run_sync(lambda: encode(body, coding))


def tagged(etag: str, coding: str | None) -> str:
    """The ETag of `etag`'s representation in `coding`: `"x"` -> `"x-br"`, `W/"x"` -> `W/"x-br"`."""
    if coding is None:
        return etag
    return f'{etag[:-1]}-{coding}"' if etag.endswith('"') else f"{etag}-{coding}"


def vary(headers: MutableHeaders | dict[str, str], *names: str) -> None:
    """Add `names` to the headers' Vary, each once (in any case)."""
    present = [v.strip() for v in headers.get("vary", "").split(",") if v.strip()]
    known = {v.lower() for v in present}
    added = [name for name in names if name.lower() not in known]
    if added:
        headers["vary"] = ", ".join([*present, *added])


class Encoded(Response):
    """A response whose body is compressed as it is sent (on a worker thread when large), so the
    handler that chose the coding never holds the event loop for it. Sent like Starlette's
    `Response`: one start, one body; Content-Length is the compressed body's."""

    def __init__(
        self, body: bytes, coding: str, status_code: int, headers: Iterable[tuple[bytes, bytes]]
    ) -> None:
        self.status_code = status_code
        self.body = body
        self.coding = coding
        self.background = None
        kept = [
            (name, value) for name, value in headers if name not in (b"content-length", b"content-encoding")
        ]
        self.raw_headers = [*kept, (b"content-encoding", coding.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await encode_off_loop(bytes(self.body), self.coding)
        headers = [*self.raw_headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Compression:
    """Compresses, per request, the responses that carry no ETag and no Content-Encoding, to a
    request without a session (see the module's docstring); adds `Vary: Accept-Encoding` to every
    response of a compressible type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        coding = negotiate(Headers(scope=scope).get("accept-encoding"))
        held: Message | None = None
        passing = False

        async def send_compressed(message: Message) -> None:
            nonlocal held, passing
            if passing:
                await send(message)
                return
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not compressible(headers.get("content-type")):
                    passing = True
                    await send(message)
                    return
                vary(headers, "Accept-Encoding")
                if (
                    coding is None
                    or scope.get("session")  # see the module's docstring: BREACH
                    or message["status"] in (204, 206, 304)
                    or "content-encoding" in headers
                    or "etag" in headers
                    or "no-transform" in headers.get("cache-control", "").lower()
                ):
                    passing = True
                    await send(message)
                    return
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            start, held, passing = held, None, True
            body = message.get("body", b"")
            if message.get("more_body", False) or len(body) < MIN_BYTES:
                await send(start)  # a streamed body, or a tiny one: as it is
                await send(message)
                return
            assert coding is not None
            compressed = await encode_off_loop(body, coding)
            headers = MutableHeaders(scope=start)
            headers["content-encoding"] = coding
            headers["content-length"] = str(len(compressed))
            await send(start)
            await send({"type": "http.response.body", "body": compressed})

        await self.app(scope, receive, send_compressed)
