"""Dropping a reader's connection at once.

When the hub drops a frozen reader, closing its connection the usual way waits for the
peer to drain the send buffer, which a frozen peer never does: the socket, its file
descriptor and megabytes of kernel buffer would stay. Aborting the transport frees them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Scope, Send

SERVER_SEND = "liveblog.server_send"


def aborter(receive: Any) -> Callable[[], None] | None:
    """The abort of the connection behind an ASGI `receive`, or None if it cannot be found.

    Under uvicorn, `receive` is a bound method of the connection's request cycle (HTTP) or
    protocol (WebSocket), and both hold the asyncio transport.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    return abort if callable(abort) else None


def pinger(receive: Any) -> Callable[[], Awaitable[asyncio.Future[Any]]] | None:
    """The protocol-level ping of the WebSocket connection behind an ASGI `receive`, or None.

    Under uvicorn's `websockets` implementation, `receive` is a bound method of the protocol,
    whose `ping()` sends a ping frame and returns the future of its pong. The hub's timer
    drives these pings, so no connection needs a keep-alive task of its own.
    """
    ping = getattr(getattr(receive, "__self__", None), "ping", None)
    return ping if callable(ping) else None


def server_send(scope: Scope, send: Send) -> Send:
    """The server's own `send` for this connection, beneath every middleware.

    A stream's head goes out through the middleware (security headers, session cookie), but
    its body, event after event, needs none of them: each wrapper is a coroutine call per
    event per reader on the fan-out path. The app records the server's `send` in the scope.
    """
    return scope.get(SERVER_SEND, send)
