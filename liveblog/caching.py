"""Caching of public reads: in this process (`RenderCache`) and in HTTP (ETag, Cache-Control).

Pages and feeds are rendered once per blog state and kept in a bounded `RenderCache`, beside
their compressed variants (each compressed once, at its first request); they, and the JSON reads,
go out through `cacheable` or `RenderCache.serve`, so a CDN can absorb page views and revalidate
with `If-None-Match`. Each coding of a body has its own ETag (`compression.tagged`).

Cache-Control by kind (every HTML, JSON and feed response says one):
- pages, permalinks, embeds, feeds, `/` and the JSON reads: `public, max-age=2` with an ETag;
  `private, max-age=2` and `Vary: Cookie` for a request with a session (see `cacheable`);
- /openapi.json and /docs: `public, max-age=300` (they change with a deploy only), with an ETag;
- static files: see `assets` (a year, immutable, under a versioned URL);
- the event stream: `no-cache, no-transform` (sse.py); the desk: `private, no-store`;
- errors (`error_cache_control`): a 404 or 410 `public, max-age=2` like the pages (a CDN absorbs
  a flood for a deleted permalink; a blog created now is found within the 2 s a page may be
  stale); every other 4xx `no-store` (it answers the request's own credentials, body or rate,
  not the resource); 5xx `no-store` (transient: 503 says Retry-After);
- anything that says nothing: `no-store` (security.SecurityHeaders), never a guess.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from . import compression, metrics
from .store import Keys

if TYPE_CHECKING:
    from .hub import Hub
    from .store import Store

T = TypeVar("T")
CACHE_CONTROL = "public, max-age=2"
LONGER = "public, max-age=300"  # /openapi.json and /docs: they change with a deploy only
NO_STORE = "no-store"
# What a 304 repeats of the full response (RFC 9110 15.4.5), plus the embed page's own CSP: a
# cache merges a 304's headers into the stored response, so the 304 must not carry another policy.
KEPT_ON_304 = ("cache-control", "etag", "vary", "content-location", "expires", "content-security-policy")


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


def error_cache_control(status: int) -> str:
    """An error's Cache-Control (see the module's docstring): 404 and 410 as briefly as a page."""
    return CACHE_CONTROL if status in (404, 410) else NO_STORE


def _personal(request: Request) -> bool:
    """True when the request carries a session (a logged-in editor): its responses are private,
    since the session middleware adds a Set-Cookie that no shared cache may keep."""
    return bool(request.scope.get("session"))


def error_headers(request: Request, status: int) -> dict[str, str]:
    """Cache-Control (and Vary) of an error page or problem: `error_cache_control`'s, private
    with `Vary: Cookie` for a request with a session."""
    cache_control = error_cache_control(status)
    if cache_control != NO_STORE and _personal(request):
        return {"cache-control": cache_control.replace("public", "private"), "vary": "Cookie"}
    return {"cache-control": cache_control}


def _validated(
    request: Request, headers: dict[str, str], etag: str, coding: str | None, cache_control: str
) -> Response | None:
    """Set the ETag of `coding`'s variant, Cache-Control and Vary in `headers`; the 304 when the
    request's If-None-Match matches that variant, else None."""
    headers["etag"] = compression.tagged(etag, coding)
    if _personal(request):
        headers["cache-control"] = cache_control.replace("public", "private")
        compression.vary(headers, "Accept-Encoding", "Cookie")
    else:
        headers["cache-control"] = cache_control
        compression.vary(headers, "Accept-Encoding")
    if not etag_matches(request.headers.get("if-none-match"), headers["etag"]):
        return None
    return Response(status_code=304, headers={k: v for k, v in headers.items() if k in KEPT_ON_304})


def cacheable(
    request: Request, response: Response, etag: str | None = None, cache_control: str = CACHE_CONTROL
) -> Response:
    """Add an ETag and a short Cache-Control to a rendered 200 response; 304 when it matches.

    `etag`: the body's, when the caller has it already (hashing a big page costs milliseconds).
    A request with a session (a logged-in editor) gets `private` and `Vary: Cookie`. A body
    worth compressing goes out in the client's preferred coding (compressed as it is sent,
    `compression.Encoded`), with that coding's own ETag.
    """
    if response.status_code != 200 or request.method not in ("GET", "HEAD"):
        return response
    body = bytes(response.body)
    etag = etag or etag_of(body)
    coding = compression.choose(request.headers, response.headers.get("content-type"), len(body))
    headers = dict(response.headers)
    not_modified = _validated(request, headers, etag, coding, cache_control)
    if not_modified is not None:
        return not_modified
    for name in ("etag", "cache-control", "vary"):
        response.headers[name] = headers[name]
    if coding is None:
        return response
    return compression.Encoded(body, coding, response.status_code, response.raw_headers)


# -- the render cache --------------------------------------------------------------------------

RENDER_ENTRIES = 256  # pages and feeds kept per process: a bound, not a target
RENDER_BYTES = 64 * 1024 * 1024  # and their total size
RENDER_THREADS = 1  # renders run at once, off the event loop (more would only share the GIL)


ORIGINS_ENCODED = 4  # an entry keeps compressed variants for this many origins (see `serve`)


@dataclass(slots=True, eq=False)
class Rendered:
    """A page or feed as rendered at one state of its blog: `head`, the blog's last event ID;
    `encoded`, its compressed variants by (origin, coding), made once each by `RenderCache.serve`."""

    head: str
    body: bytes
    etag: str
    encoded: dict[tuple[str, str], bytes] = field(default_factory=dict)
    kept: bool = False  # held by a RenderCache, whose byte count includes the variants

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(variant) for variant in self.encoded.values())


def rendered(head: str, body: bytes) -> Rendered:
    """A render with its ETag (hashing a few MiB takes milliseconds: call it off the loop)."""
    return Rendered(head, body, etag_of(body))


class RenderCache:
    """Pages and feeds rendered once per blog state, whatever the number of readers.

    An entry is kept under (slug, variant), where the variant holds only what changes the output
    (page or embed, transport, `before`, feed kind); it is served only while its `head` is the
    blog's current last event ID, and the blog's next render replaces it. Bounded by entries and
    bytes (its compressed variants counted with it), least recently used first out. Renders and
    compressions run on one worker thread (`run`), so a big page never stalls the event loop;
    concurrent requests for the same missing entry, or variant, share one render or compression.
    """

    def __init__(self, *, entries: int = RENDER_ENTRIES, size: int = RENDER_BYTES) -> None:
        self.max_entries = entries
        self.max_bytes = size
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, Hashable], Rendered] = OrderedDict()
        self._flights: dict[tuple[str, Hashable, str | None], asyncio.Future[Rendered]] = {}
        self._encodings: dict[tuple[int, str, str], asyncio.Future[bytes]] = {}
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn()` on the render thread."""
        if self._limiter is None:  # made in the running loop, as anyio wants
            self._limiter = anyio.CapacityLimiter(RENDER_THREADS)
        return await anyio.to_thread.run_sync(fn, limiter=self._limiter)

    async def get(
        self, slug: str, variant: Hashable, head: str | None, build: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        """The entry for (slug, variant) rendered at `head`, else `build()`'s, which is kept.

        `head` None (the blog's state unknown) always builds; `build` reports the head it read,
        which may be newer than `head`, and its render is kept under that head.
        """
        key = (slug, variant)
        entry = self._entries.get(key)
        if entry is not None and head is not None and entry.head == head:
            self._entries.move_to_end(key)
            return entry
        flight_key = (slug, variant, head)
        flight = self._flights.get(flight_key) if head is not None else None
        if flight is not None:
            return await asyncio.shield(flight)
        future: asyncio.Future[Rendered] = asyncio.get_running_loop().create_future()
        self._flights[flight_key] = future
        try:
            entry = await build()
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: waiters re-raise it themselves
            else:
                future.cancel()
            raise
        finally:
            self._flights.pop(flight_key, None)
        future.set_result(entry)
        self._put(key, entry)
        return entry

    def _put(self, key: tuple[str, Hashable], entry: Rendered) -> None:
        size = entry.size
        if size > self.max_bytes // 4:  # served, not kept: it would push out too much
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._drop(old)
        self._entries[key] = entry
        entry.kept = True
        self.bytes += size
        self._trim()

    def _drop(self, entry: Rendered) -> None:
        entry.kept = False
        self.bytes -= entry.size

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._drop(evicted)

    async def serve(
        self,
        request: Request,
        entry: Rendered,
        media_type: str,
        headers: dict[str, str],
        *,
        origin: str = "",
        localize: Callable[[bytes], bytes] = bytes,
        cache_control: str = CACHE_CONTROL,
    ) -> Response:
        """The response for `entry`: its ETag, Cache-Control and Vary, a 304 when it matches,
        else the body in the client's preferred coding, compressed once per entry and origin.

        `origin` and `localize`: with no public URL set, the request's origin and the function
        that puts it in the body (see `urls.localize`); the entry's ETag then covers the origin.
        Variants are kept for `ORIGINS_ENCODED` origins per entry: a request from another origin
        (junk Host headers, say) gets identity, so no Host makes us compress per request.
        """
        etag = etag_of(f"{entry.etag} {origin}".encode()) if origin else entry.etag
        coding = compression.choose(request.headers, media_type, len(entry.body))
        if coding is not None and not self._room_for(entry, origin):
            coding = None
        headers = dict(headers)
        not_modified = _validated(request, headers, etag, coding, cache_control)
        if not_modified is not None:
            return not_modified
        if coding is None:
            return Response(localize(entry.body), headers=headers, media_type=media_type)
        body = await self._encoded(entry, origin, coding, localize)
        headers["content-encoding"] = coding
        return Response(body, headers=headers, media_type=media_type)

    def _room_for(self, entry: Rendered, origin: str) -> bool:
        """True when `entry` has, or may take, compressed variants for `origin`."""
        origins = {known for known, _ in entry.encoded}
        origins.update(known for of, known, _ in self._encodings if of == id(entry))
        return origin in origins or len(origins) < ORIGINS_ENCODED

    async def _encoded(
        self, entry: Rendered, origin: str, coding: str, localize: Callable[[bytes], bytes]
    ) -> bytes:
        """`entry` for `origin` in `coding`, compressed on the render thread once: concurrent
        requests share the one compression, and the variant is kept (and counted) with the entry."""
        variant = entry.encoded.get((origin, coding))
        if variant is not None:
            return variant
        key = (id(entry), origin, coding)
        flight = self._encodings.get(key)
        if flight is not None:
            return await asyncio.shield(flight)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._encodings[key] = future
        try:
            variant = await self.run(lambda: compression.encode(localize(entry.body), coding, "render"))
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()
            else:
                future.cancel()
            raise
        finally:
            self._encodings.pop(key, None)
        future.set_result(variant)
        metrics.COMPRESSIONS.labels("render", coding).inc()
        entry.encoded[(origin, coding)] = variant
        if entry.kept:
            self.bytes += len(variant)
            self._trim()
        return variant

    def __len__(self) -> int:
        return len(self._entries)


async def head_of(hub: Hub, store: Store, slug: str) -> str | None:
    """The blog's last event ID (None: no such blog): from the hub while it follows the blog,
    which costs no Redis command, else one `HGET`."""
    channel = hub.warm(slug)
    if channel is not None:
        return channel.head_id
    raw = await store.redis.hget(Keys.of(slug).meta, "last_event_id")
    if raw is None:
        return None
    return (raw.decode() if isinstance(raw, bytes) else str(raw)) or "0-0"
