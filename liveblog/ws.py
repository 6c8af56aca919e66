"""WebSocket transport: the same JSON events as SSE, one text frame each, over a hub subscription.

Keep-alives and dead-peer detection are uvicorn's (`ws_ping_interval`, `ws_ping_timeout`: see
`cli.cmd_serve`), so the hub sends these subscriptions no `ping` events.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from . import metrics
from .connections import sink_of
from .errors import NotFound
from .events import BadEventId
from .hub import SHUTDOWN, ReaderTooSlow, Subscription, TooManyStreams
from .redis_client import UNAVAILABLE
from .state import state_of

CLOSE_BAD_REQUEST = 1008
CLOSE_TRY_AGAIN = 1013
CLOSE_GOING_AWAY = 1001
CLOSE_UNKNOWN_BLOG = 4404
CLOSE_UNAVAILABLE = 1011
# What refuses a stream before it starts (see `_refusal`).
REFUSALS: tuple[type[Exception], ...] = (BadEventId, NotFound, TooManyStreams, *UNAVAILABLE)


async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """/api/v1/blogs/{slug}/ws, called by `dispatch.Streams` with the server's own `receive`
    and `send`, beneath every middleware."""
    websocket = WebSocket(scope, receive, send)
    state = state_of(websocket)
    await websocket.accept()
    subscription = None
    try:
        async with state.hub.subscribe(
            websocket.path_params["slug"],
            websocket.query_params.get("last_event_id"),
            client=websocket.client.host if websocket.client else None,
            sink=sink_of(receive),
            keepalive=False,
        ) as subscription:
            metrics.READERS.labels("ws").inc()
            try:
                await _serve(websocket, send, subscription)
            finally:
                metrics.READERS.labels("ws").dec()
    except REFUSALS as exc:
        if subscription is not None:
            raise
        await websocket.close(*_refusal(exc))


def _refusal(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, BadEventId):
        return CLOSE_BAD_REQUEST, str(exc)[:120]
    if isinstance(exc, NotFound):
        return CLOSE_UNKNOWN_BLOG, "unknown blog"
    if isinstance(exc, TooManyStreams):
        return CLOSE_TRY_AGAIN, exc.detail[:120]
    return CLOSE_UNAVAILABLE, "store unavailable, retry"


async def _send(send: Send, subscription: Subscription) -> int:
    """Send every event as a text frame; the close code once the hub ends the subscription.

    Through the server's own `send`, not Starlette's `WebSocket.send_text`, whose two coroutines
    per frame cost 1-1.5 µs per event per reader (py-spy, 1,000 readers). The server raises
    OSError (uvicorn's ClientDisconnected) where Starlette would raise WebSocketDisconnect."""
    try:
        async for batch in subscription.batches():
            for event in batch:
                if not event.erased:  # erased meanwhile: its update was edited or deleted
                    await send({"type": "websocket.send", "text": event.payload})
    except ReaderTooSlow:
        return CLOSE_TRY_AGAIN
    return CLOSE_GOING_AWAY if subscription.reason in (SHUTDOWN, None) else CLOSE_UNAVAILABLE


async def _receive(websocket: WebSocket) -> int | None:
    """Read until the client leaves; readers send nothing, so any data frame is a bad request."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    return CLOSE_BAD_REQUEST


async def _serve(websocket: WebSocket, send: Send, subscription: Subscription) -> None:
    """This task sends; one more notices the client leave or misbehave, and ends the sending."""
    receiver = asyncio.ensure_future(_receive(websocket))
    receiver.add_done_callback(lambda _: subscription.close())
    code: int | None = None
    try:
        code = await _send(send, subscription)
    except (WebSocketDisconnect, OSError, RuntimeError):  # the client went away mid-send
        code = None
    finally:
        if not receiver.done():
            receiver.cancel()
    if receiver.done() and not receiver.cancelled():
        # The client left (nothing to close) or sent data (1008), which ended the sending.
        code = None if receiver.exception() else receiver.result()
    if code is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code), 2.0)
