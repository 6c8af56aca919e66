"""Server-Sent Events transport: a thin adapter over a hub subscription, with sse-starlette.

Where it diverges from a plain `EventSourceResponse`: in one method, `_send_with_timeout`, a
private hook of sse-starlette (checked on 3.7.0, pinned in pyproject.toml, guarded by
tests/test_seams.py). sse-starlette sends every event through it, and without a `send_timeout`
it still opens an anyio cancel scope per send: 22-25 µs a send against 0.3-0.7 µs without
(uvloop, the shared 2-core development machine), per event and per reader, on the fan-out path.
No timeout is needed: the hub's watchdog cuts off a reader stuck in a send (one timer per blog).
It also overrides Starlette's public `Response.init_headers`, so that every stream shares one
encoded head (see `SubscriptionResponse.init_headers`).
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import ClassVar

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from . import metrics, security
from .caching import error_cache_control
from .connections import sink_of
from .errors import BadRequest, LiveblogError, Unavailable
from .events import BadEventId, sse_retry
from .hub import SHUTDOWN, ReaderTooSlow, Subscription
from .problems import problem
from .redis_client import UNAVAILABLE
from .state import AppState, state_of

log = logging.getLogger("liveblog.sse")

RETRY_MS = 2000
SHUTDOWN_GRACE = 2.0  # seconds a stream has to end cleanly when the server shuts down
# no-transform: no proxy may compress or otherwise hold back the stream (RFC 9111 5.2.2.6).
HEADERS = {"Cache-Control": "no-cache, no-transform", **security.HEADERS}
# What refuses a stream before it starts (see `_refusal`).
REFUSALS: tuple[type[Exception], ...] = (BadEventId, LiveblogError, *UNAVAILABLE)

# The sse-starlette release the hook below was checked on, and its methods that send through it.
CHECKED_ON = "3.7.0"
SENDERS = ("_stream_response", "_ping", "__call__")


def check() -> None:
    """Fail loudly when sse-starlette no longer sends through the hook `SubscriptionResponse`
    overrides: the override would be dead and every send 22-25 µs slower, silently."""
    version = importlib.metadata.version("sse-starlette")
    hook = getattr(EventSourceResponse, "_send_with_timeout", None)
    if (
        version != CHECKED_ON
        or hook is None
        or list(inspect.signature(hook).parameters) != ["self", "send", "message"]
        or not all(
            "self._send_with_timeout(" in inspect.getsource(getattr(EventSourceResponse, name))
            for name in SENDERS
        )
    ):
        raise RuntimeError(
            f"sse-starlette {version} is not the {CHECKED_ON} that liveblog.sse's `_send_with_timeout` "
            "override was checked on: install the version pinned in pyproject.toml"
        )


class SubscriptionResponse(EventSourceResponse):
    """sse-starlette, used in its leanest way: the hub sends the keep-alive pings (one timer
    per blog), ends the stream when the reader falls behind or the server shuts down (through
    the hub's one `shutdown_event`), and cuts off a reader frozen in a send; per connection
    there are only sse-starlette's stream, disconnect and shutdown tasks."""

    def __init__(self, subscription: Subscription, state: AppState) -> None:
        self.subscription = subscription
        super().__init__(
            self._body(),
            ping=0,
            sep="\n",
            headers=HEADERS,
            shutdown_event=state.hub.shutdown_event(),
            shutdown_grace_period=SHUTDOWN_GRACE,
        )

    async def _body(self) -> AsyncIterator[bytes]:
        yield sse_retry(RETRY_MS)
        subscription = self.subscription
        try:
            async for batch in subscription.batches():  # a burst of events goes out in one send
                yield batch[0].sse if len(batch) == 1 else b"".join(event.sse for event in batch)
        except ReaderTooSlow:
            return  # the stream ends; EventSource reconnects with Last-Event-ID
        if subscription.reason == SHUTDOWN:
            # The server is going away: reconnect soon, spread out, to the next process.
            yield sse_retry(random.randint(250, RETRY_MS))

    # Every stream's head is the same: encoded once and shared, instead of sse-starlette's and
    # Starlette's fresh copy per response, kept for the connection's life (with the security
    # headers, 3.1 against 1.3 KB per response under tracemalloc, 5,000 responses). Starlette's
    # public `init_headers`, which sse-starlette calls; bounded should the headers ever vary.
    _heads: ClassVar[dict[tuple[tuple[str, str], ...], list[tuple[bytes, bytes]]]] = {}

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        # Keyed by the raw pairs: `items()` would decode every header of every response anew
        # (3.7% of the server's CPU in a reconnect storm, under py-spy).
        raw = getattr(headers, "raw", None)
        key = tuple(raw) if raw is not None else tuple(headers.items()) if headers is not None else ()
        shared = self._heads.get(key)
        if shared is None:
            super().init_headers(headers)
            if len(self._heads) < 4:
                self._heads[key] = list(self.raw_headers)
        else:
            self.raw_headers = list(shared)

    def _send_with_timeout(self, send: Send, message: Message) -> Awaitable[None]:  # type: ignore[override]
        # Private to sse-starlette 3.7 (pinned; tests/test_seams.py): 0.3-0.7 µs a send against
        # 22-25 µs through its cancel scope (see the module's docstring). The server's own
        # `send` coroutine is what sse-starlette awaits: no coroutine of ours per event.
        return send(message)


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """GET /api/v1/blogs/{slug}/events, called by `dispatch.Streams` with the server's own
    `receive` and `send`: the body goes out beneath every middleware (each would wrap every
    send, per event per reader), so the response carries the security headers itself.

    A stream refused before it starts gets its problem+json answer here: a malformed
    Last-Event-ID 400, an unknown blog 404, too many streams 429, the store away 503."""
    request = Request(scope, receive)
    state = state_of(request)
    last_event_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    slug, client = request.path_params["slug"], request.client.host if request.client else None
    del request  # its parsed headers and query would stay beside every connected reader
    subscription = None
    try:
        async with state.hub.subscribe(
            slug,
            last_event_id,
            client=client,
            sink=sink_of(receive),
        ) as subscription:
            metrics.READERS.labels("sse").inc()
            try:
                await SubscriptionResponse(subscription, state)(scope, receive, send)
            finally:
                metrics.READERS.labels("sse").dec()
    except REFUSALS as exc:
        if subscription is not None:  # the stream had started: nothing to answer
            raise
        refusal = _refusal(exc)
        headers = {"cache-control": error_cache_control(refusal.status), **security.HEADERS}
        await problem(refusal, headers)(scope, receive, send)


def _refusal(exc: Exception) -> LiveblogError:
    if isinstance(exc, BadEventId):
        return BadRequest(f"Last-Event-ID: {exc}")
    if isinstance(exc, LiveblogError):
        return exc
    log.warning("store unreachable: %s", exc)
    return Unavailable("the store is unreachable; retry shortly")
