"""Dropping a reader's connection at once.

When the hub drops a frozen reader, closing its connection the usual way waits for the
peer to drain the send buffer, which a frozen peer never does: the socket, its file
descriptor and megabytes of kernel buffer would stay. Aborting the transport frees them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def aborter(receive: Any) -> Callable[[], None] | None:
    """The abort of the connection behind an ASGI `receive`, or None if it cannot be found.

    Under uvicorn, `receive` is a bound method of the connection's request cycle (HTTP) or
    protocol (WebSocket), and both hold the asyncio transport.
    """
    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    return abort if callable(abort) else None
