"""Server-Sent Events transport: a thin adapter over a hub subscription, with sse-starlette."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from . import metrics
from .errors import BadRequest
from .events import BadEventId, sse_retry
from .hub import ReaderTooSlow, Subscription
from .state import state_of

RETRY_MS = 2000
PING_SECONDS = 15
SHUTDOWN_GRACE = 2.0  # seconds a stream has to end cleanly when the server shuts down


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping", sep="\n")


class SubscriptionResponse(EventSourceResponse):
    """An EventSourceResponse that owns its subscription and ends it however the stream ends."""

    def __init__(self, subscription: Subscription, send_timeout: float | None) -> None:
        self.subscription = subscription
        self._shutdown = anyio.Event()
        super().__init__(
            self._body(),
            ping=PING_SECONDS,
            sep="\n",
            ping_message_factory=_ping,
            send_timeout=send_timeout,
            data_sender_callable=self._watch,
            headers={"Cache-Control": "no-cache"},
            shutdown_event=self._shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE,
        )

    async def _body(self) -> AsyncIterator[bytes]:
        yield sse_retry(RETRY_MS)
        async for batch in self.subscription.batches():
            # A burst of events goes out in one send.
            yield batch[0].sse if len(batch) == 1 else b"".join(event.sse for event in batch)
        if self._shutdown.is_set():
            # The server is going away: reconnect soon, spread out, to the next process.
            yield sse_retry(random.randint(250, RETRY_MS))

    async def _watch(self) -> None:
        """End the response at once when the hub drops this reader, even mid-send; on server
        shutdown, end the subscription so the body finishes cleanly with a retry hint."""

        async def on_shutdown() -> None:
            await self._shutdown.wait()
            self.subscription.close()

        async with anyio.create_task_group() as group:
            group.start_soon(on_shutdown)
            await self.subscription.dropped.wait()
            raise ReaderTooSlow()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.READERS.labels("sse").inc()
        try:
            await super().__call__(scope, receive, send)
        except (ReaderTooSlow, SendTimeoutError):
            pass  # the server closes the connection; the client resumes with Last-Event-ID
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
    timeout = state.settings.send_timeout or None
    return SubscriptionResponse(subscription, timeout)
