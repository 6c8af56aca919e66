"""Dropping a reader's connection at once: the one private hook of uvicorn the transports use.

When the hub drops a reader frozen in a send, closing its connection the ASGI way waits for the
peer to drain the send buffer, which a frozen peer never does: the socket, its file descriptor
and up to 4 MiB of kernel send buffer (`net.ipv4.tcp_wmem`'s maximum; tests/test_load.py's
frozen readers measured ~4 MB each) stay for as long as the peer lives. ASGI has no abort, so
`sink_of` takes the asyncio transport's `abort` from uvicorn's connection object.

Checked on uvicorn 0.54 (pinned in pyproject.toml) with the two protocols `liveblog serve` runs:
`protocol.LimitedHttpToolsProtocol` (HTTP: `receive` is a bound method of its
`RequestResponseCycle`) and `WebSocketsSansIOProtocol` (`receive` is a bound method of the
protocol); both hold the connection's `transport`. `check()` fails `liveblog serve` at its
start if that is no longer so, tests/test_seams.py guards it, and `sink_of` raises rather
than return nothing under any other server.
"""

from __future__ import annotations

import inspect
from typing import Any

from uvicorn.protocols.http.httptools_impl import RequestResponseCycle
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from .hub import Sink

# Where uvicorn keeps the connection's transport: the classes whose bound `receive` we are given.
HOLDERS = (RequestResponseCycle, WebSocketsSansIOProtocol)


class NoAbort(RuntimeError):
    """The server behind this connection is not one whose transport `sink_of` can reach."""


def check() -> None:
    """Fail loudly when uvicorn's connection objects no longer hold their transport."""
    for holder in HOLDERS:
        if "self.transport = " not in inspect.getsource(holder):
            raise NoAbort(f"uvicorn's {holder.__name__} keeps no `transport`: see liveblog.connections")
        if not callable(getattr(holder, "receive", None)):
            raise NoAbort(f"uvicorn's {holder.__name__} has no `receive`: see liveblog.connections")


def sink_of(receive: Any) -> Sink:
    """The asyncio transport behind an ASGI `receive` under uvicorn: the hub's `Sink` for it."""
    # Private to uvicorn 0.54 (pinned; tests/test_seams.py): frees ~4 MiB of kernel send buffer
    # per frozen reader at once (see the module's docstring).
    transport: Any = getattr(getattr(receive, "__self__", None), "transport", None)
    if not callable(getattr(transport, "abort", None)):
        raise NoAbort(f"no asyncio transport behind {receive!r}: liveblog's streams run under uvicorn")
    sink: Sink = transport
    return sink
