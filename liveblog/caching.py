"""Caching of public reads: in this process (`RenderCache`) and in HTTP (ETag, Cache-Control).

Pages and feeds are rendered once per blog state and kept in a bounded `RenderCache`; they, and
the JSON reads, go out through `cacheable`, so a CDN can absorb page views and revalidate with
`If-None-Match`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response

from .store import Keys

if TYPE_CHECKING:
    from .hub import Hub
    from .store import Store

T = TypeVar("T")
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


def cacheable(request: Request, response: Response, etag: str | None = None) -> Response:
    """Add an ETag and a short Cache-Control to a rendered 200 response; 304 when it matches.

    `etag`: the body's, when the caller has it already (hashing a big page costs milliseconds).
    A request with a session (a logged-in editor) gets `private`: the session middleware adds a
    Set-Cookie to its response, which no shared cache may keep and hand to other readers.
    """
    if response.status_code != 200 or request.method not in ("GET", "HEAD"):
        return response
    etag = etag or etag_of(bytes(response.body))
    response.headers["etag"] = etag
    private = bool(request.scope.get("session"))
    response.headers["cache-control"] = (
        CACHE_CONTROL.replace("public", "private") if private else CACHE_CONTROL
    )
    if not etag_matches(request.headers.get("if-none-match"), etag):
        return response
    headers = {name: value for name, value in response.headers.items() if name in _KEPT_ON_304}
    return Response(status_code=304, headers=headers)


# -- the render cache --------------------------------------------------------------------------

RENDER_ENTRIES = 256  # pages and feeds kept per process: a bound, not a target
RENDER_BYTES = 64 * 1024 * 1024  # and their total size
RENDER_THREADS = 1  # renders run at once, off the event loop (more would only share the GIL)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A page or feed as rendered at one state of its blog: `head`, the blog's last event ID."""

    head: str
    body: bytes
    etag: str


def rendered(head: str, body: bytes) -> Rendered:
    """A render with its ETag (hashing a few MiB takes milliseconds: call it off the loop)."""
    return Rendered(head, body, etag_of(body))


class RenderCache:
    """Pages and feeds rendered once per blog state, whatever the number of readers.

    An entry is kept under (slug, variant), where the variant holds only what changes the output
    (page or embed, transport, `before`, feed kind); it is served only while its `head` is the
    blog's current last event ID, and the blog's next render replaces it. Bounded by entries and
    bytes, least recently used first out. Renders run on one worker thread (`run`), so a big page
    never stalls the event loop; concurrent requests for the same missing entry share one render.
    """

    def __init__(self, *, entries: int = RENDER_ENTRIES, size: int = RENDER_BYTES) -> None:
        self.max_entries = entries
        self.max_bytes = size
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, Hashable], Rendered] = OrderedDict()
        self._flights: dict[tuple[str, Hashable, str | None], asyncio.Future[Rendered]] = {}
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
        size = len(entry.body)
        if size > self.max_bytes // 4:  # served, not kept: it would push out too much
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old.body)
        self._entries[key] = entry
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted.body)

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
