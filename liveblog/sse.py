"""Server-Sent Events transport: a thin adapter over a hub subscription, with sse-starlette."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from . import metrics
from .connections import aborter, server_send
from .errors import BadRequest
from .events import BadEventId, sse_retry
from .hub import ReaderTooSlow, Subscription
from .state import state_of

RETRY_MS = 2000
SHUTDOWN_GRACE = 2.0  # seconds a stream has to end cleanly when the server shuts down


class _EndOnShutdown:
    """Handed to sse-starlette as its `shutdown_event`: when the server shuts down it calls
    `set()`, which ends the subscription, so the body finishes cleanly with a retry hint
    (no task per connection waits for it)."""

    __slots__ = ("subscription", "is_set")

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.is_set = False

    def set(self) -> None:
        self.is_set = True
        self.subscription.close()


class SubscriptionResponse(EventSourceResponse):
    """sse-starlette, used in its leanest way: the hub sends the keep-alive pings (one timer
    per blog), ends the stream when the reader falls behind and cuts off a reader frozen in
    a send (so no per-send timeout); per connection there are only sse-starlette's stream,
    disconnect and shutdown tasks."""

    _server_send: Send

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self._shutdown = _EndOnShutdown(subscription)
        super().__init__(
            self._body(),
            ping=0,
            sep="\n",
            headers={"Cache-Control": "no-cache"},
            shutdown_event=self._shutdown,  # type: ignore[arg-type]
            shutdown_grace_period=SHUTDOWN_GRACE,
        )

    async def _body(self) -> AsyncIterator[bytes]:
        yield sse_retry(RETRY_MS)
        subscription, loop = self.subscription, asyncio.get_running_loop()
        try:
            async for batch in subscription.batches():
                # A burst of events goes out in one send; the hub sees how long it takes.
                subscription.busy_since = loop.time()
                yield batch[0].sse if len(batch) == 1 else b"".join(event.sse for event in batch)
                subscription.busy_since = 0.0
        except ReaderTooSlow:
            return  # the stream ends; EventSource reconnects with Last-Event-ID
        if self._shutdown.is_set:
            # The server is going away: reconnect soon, spread out, to the next process.
            yield sse_retry(random.randint(250, RETRY_MS))

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        """sse-starlette sends each event through here. Without a timeout it would still
        open an anyio cancel scope per send, and the middleware would wrap each send in
        turn: the body goes straight to the server (the head already went through `send`)."""
        if message["type"] == "http.response.body":
            await self._server_send(message)
        else:
            await send(message)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._server_send = server_send(scope, send)
        metrics.READERS.labels("sse").inc()
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.subscription.close()
            metrics.READERS.labels("sse").dec()


async def stream(request: Request) -> SubscriptionResponse:
    state = state_of(request)
    last_event_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    try:
        subscription = await state.hub.subscribe(
            request.path_params["slug"], last_event_id, client=request.client.host if request.client else None
        )
    except BadEventId as exc:
        raise BadRequest(f"Last-Event-ID: {exc}") from None
    subscription.aborter = aborter(request.receive)
    return SubscriptionResponse(subscription)
