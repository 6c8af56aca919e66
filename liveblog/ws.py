"""WebSocket transport: the same JSON events as SSE, one text frame each, over a hub subscription."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from . import metrics
from .connections import aborter, pinger, server_send
from .errors import NotFound
from .events import BadEventId
from .hub import ReaderTooSlow, Subscription, TooManyStreams
from .redis_client import UNAVAILABLE
from .state import state_of

CLOSE_BAD_REQUEST = 1008
CLOSE_TRY_AGAIN = 1013
CLOSE_GOING_AWAY = 1001
CLOSE_UNKNOWN_BLOG = 4404
CLOSE_UNAVAILABLE = 1011


async def endpoint(websocket: WebSocket) -> None:
    state = state_of(websocket)
    await websocket.accept()
    try:
        subscription = await state.hub.subscribe(
            websocket.path_params["slug"],
            websocket.query_params.get("last_event_id"),
            client=websocket.client.host if websocket.client else None,
        )
    except BadEventId as exc:
        await websocket.close(CLOSE_BAD_REQUEST, reason=str(exc)[:120])
        return
    except NotFound:
        await websocket.close(CLOSE_UNKNOWN_BLOG, reason="unknown blog")
        return
    except TooManyStreams as exc:
        await websocket.close(CLOSE_TRY_AGAIN, reason=exc.detail[:120])
        return
    except UNAVAILABLE:
        await websocket.close(CLOSE_UNAVAILABLE, reason="store unavailable, retry")
        return
    subscription.aborter = aborter(websocket._receive)
    metrics.READERS.labels("ws").inc()
    try:
        await _serve(websocket, subscription)
    finally:
        subscription.close()
        metrics.READERS.labels("ws").dec()


async def _send(websocket: WebSocket, subscription: Subscription) -> int | None:
    """Send every event as a text frame; the close code when the hub dropped the reader.

    Frames go straight to the server, beneath the middleware's wrappers (see `server_send`).
    The hub's keep-alive becomes a protocol ping; a peer that has not answered the previous
    one by the next is gone, and its connection is dropped.
    """
    loop, send = asyncio.get_running_loop(), server_send(websocket.scope, websocket._send)
    ping, pong = pinger(websocket._receive), None
    try:
        async for batch in subscription.batches():
            for event in batch:
                subscription.busy_since = loop.time()  # the hub drops a send stuck too long
                if event.type != "ping":
                    if not event.erased:  # erased meanwhile: its update was edited or deleted
                        await send({"type": "websocket.send", "text": event.payload})
                elif ping is not None:
                    if pong is not None and not pong.done():
                        if subscription.aborter is not None:
                            subscription.aborter()
                        return None
                    pong = await ping()
                subscription.busy_since = 0.0
    except ReaderTooSlow:
        return CLOSE_TRY_AGAIN
    return CLOSE_GOING_AWAY


async def _receive(websocket: WebSocket) -> int | None:
    """Read until the client leaves; readers send nothing, so any data frame is a bad request."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    return CLOSE_BAD_REQUEST


async def _serve(websocket: WebSocket, subscription: Subscription) -> None:
    """This task sends; one more notices the client leave or misbehave, and ends the sending."""
    receiver = asyncio.ensure_future(_receive(websocket))
    receiver.add_done_callback(lambda _: subscription.close())
    code: int | None = None
    try:
        code = await _send(websocket, subscription)
    except Exception:  # the client went away mid-send
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


def route() -> WebSocketRoute:
    return WebSocketRoute("/blogs/{slug}/ws", endpoint)
