"""The HTTP protocol `liveblog serve` runs: uvicorn's httptools protocol with three limits.

uvicorn bounds none of these for httptools (h11 has `h11_max_incomplete_event_size`; its
`limit_concurrency` answers 503 but counts tasks as well as connections, and only once a
request head is complete), so this module adds them, in one place:

- **head size**: a request head (request line and headers) over `max_header_bytes` gets
  `431` and the connection is closed (a client still sending sees the close: the kernel
  resets a socket closed with unread data, which may drop the 431). The bytes are counted as they arrive, before the
  parser sees them: httptools joins a header value chunk by chunk (`bytes +=`), so one
  100 MB header cost 11 s of parsing that stalled every other request, and nothing limits
  the number of headers;
- **head time**: a connection that has not completed its request head `head_timeout`
  seconds after it opened (or, on a kept-alive connection, after the next request began)
  is closed. A stream (SSE, WebSocket) completed its head long before, and is untouched;
- **connections**: a process holds at most `max_connections` open connections (HTTP,
  SSE and WebSocket alike: uvicorn's own connection set); one more is answered `503` and
  closed at once, with a warning in the log at most every 10 s.

A fourth, for WebSocket upgrades that uvicorn's `websockets-sansio` would never answer, is
described at `handle_websocket_upgrade`.

Where it diverges from a plain `HttpToolsProtocol`: only in the six methods named in
`OVERRIDDEN`, each of which calls the original. Checked on uvicorn 0.54 (pinned in pyproject.toml);
`check()` runs at `liveblog serve`'s start and fails it loudly if the methods or the
connection set are gone, and tests/test_limits.py guards their signatures.

Cost (`python -m bench.protocol_cost`: server CPU of a one-line ASGI app under uvloop, three
runs on the shared 2-core development machine): a keep-alive request 43.5 / 50.5 / 55.0 µs
plain, 50.0 / 51.0 / 50.5 µs limited, no difference beyond the noise (a head that arrives in one
read arms no timer; arming one per request cost +15 µs); a new one-request connection 158 / 162
/ 176 µs plain, 174 / 182 / 174 µs limited, about +10-20 µs (one timer armed and cancelled).
"""

from __future__ import annotations

import inspect
import logging
import resource
import time
from asyncio import TimerHandle, Transport
from dataclasses import dataclass
from functools import cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState
from websockets.http11 import MAX_LINE_LENGTH, MAX_NUM_HEADERS

from .settings import Settings

log = logging.getLogger("liveblog.protocol")

# File descriptors left to the rest of the process when `max_connections` is 0: Redis
# connections (the store's pool, one blocking reader per blog), files, logs.
FD_RESERVE = 256
WARN_EVERY = 10.0  # seconds between two "connection cap reached" warnings

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 32\r\nconnection: close\r\n\r\n"
    b"Request header fields too large\n"
)
_URI_TOO_LONG = (
    b"HTTP/1.1 414 URI Too Long\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 13\r\nconnection: close\r\n\r\n"
    b"URI too long\n"
)
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: text/plain; charset=utf-8\r\ncontent-length: 20\r\n"
    b"retry-after: 1\r\nconnection: close\r\n\r\n"
    b"Too many connections"
)

# What this module relies on in uvicorn, by name and parameters (checked at start).
OVERRIDDEN = {
    "connection_made": ["self", "transport"],
    "connection_lost": ["self", "exc"],
    "data_received": ["self", "data"],
    "on_message_begin": ["self"],
    "on_headers_complete": ["self"],
    "handle_websocket_upgrade": ["self"],
}


def connection_cap(configured: int, soft_limit: int | None = None) -> int:
    """`max_connections`, or with 0 the open-file limit less a reserve (at least half of it)."""
    if configured > 0:
        return configured
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit == resource.RLIM_INFINITY:
        return 1 << 20
    return max(soft_limit - FD_RESERVE, soft_limit // 2)


@dataclass
class Limits:
    max_header_bytes: int
    head_timeout: float
    max_connections: int
    last_warning: float = float("-inf")

    def warn_full(self, open_connections: int) -> None:
        now = time.monotonic()
        if now - self.last_warning >= WARN_EVERY:
            self.last_warning = now
            log.warning(
                "connection cap reached: %d open connections (LIVEBLOG_MAX_CONNECTIONS=%d); "
                "refusing new ones with 503",
                open_connections,
                self.max_connections,
            )


@cache
def limits() -> Limits:
    """This process's limits, read once from the environment `liveblog serve` passes its workers."""
    settings = Settings.from_env()
    return Limits(
        max_header_bytes=settings.max_header_bytes,
        head_timeout=settings.head_timeout,
        max_connections=connection_cap(settings.max_connections),
    )


def check() -> None:
    """Fail loudly when the uvicorn installed lacks what this module overrides."""
    for name, expected in OVERRIDDEN.items():
        method = getattr(HttpToolsProtocol, name, None)
        if method is None or list(inspect.signature(method).parameters) != expected:
            raise RuntimeError(
                f"uvicorn's HttpToolsProtocol.{name}{expected} changed: liveblog.protocol's "
                "limits would not hold; install the uvicorn version pinned in pyproject.toml"
            )
    if not isinstance(getattr(ServerState(), "connections", None), set):
        raise RuntimeError("uvicorn's ServerState has no `connections`: liveblog.protocol cannot count them")


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a bounded request head and a cap on connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = limits()
        self._head_bytes: int | None = 0  # bytes of the head so far; None once it is complete
        self._head_timer: TimerHandle | None = None

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        open_connections = len(self.connections)  # before this one joins
        super().connection_made(transport)
        if open_connections >= self._limits.max_connections:
            self._limits.warn_full(open_connections)
            self._head_bytes = None
            transport.write(_BUSY)
            transport.close()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        head_bytes = self._head_bytes
        if head_bytes is None:  # a body, or the start of the next request
            super().data_received(data)
            if self._head_bytes is None or self.transport.is_closing():
                return  # the usual case: a kept-alive request's whole head came in one read
            # The next request's head began in this read and is not complete: count the whole
            # read against it (httptools does not say where in it the request began).
            self._head_bytes = len(data)
        else:
            room = self._limits.max_header_bytes - head_bytes
            if len(data) <= room:
                self._head_bytes = head_bytes + len(data)
                super().data_received(data)
            else:
                # The head may end within this read: the parser sees it up to the limit only.
                if room > 0:
                    super().data_received(data[:room])
                if self.transport.is_closing() or self.transport.get_protocol() is not self:
                    return  # closed (a bad request) or upgraded to a WebSocket
                if self._head_bytes is not None:
                    self._refuse_head()
                    return
                super().data_received(data[room:])
            if self._head_bytes is None or self.transport.is_closing():
                return
        if self._head_bytes > self._limits.max_header_bytes:
            self._refuse_head()
        elif self._head_timer is None:
            self._arm()  # a head spread over reads: its time starts now

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_bytes is None:  # a kept-alive connection's next request
            self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        """Hand the upgrade to uvicorn's WebSocket protocol, unless websockets would not parse it.

        A defect of uvicorn 0.54's `websockets-sansio`: when websockets' parser refuses the
        upgrade request (a line over `MAX_LINE_LENGTH`, 8 KiB; more than `MAX_NUM_HEADERS`),
        it never answers, fails an assert, and the connection then breaks the server's shutdown
        (tests/test_hostile.py: `test_a_stuck_websocket_handshake_neither_hangs_nor_breaks_shutdown`
        and the 10 KB case of `test_garbage_last_event_id_on_websocket_closes_1008`). Those
        requests are answered 414 or 431 here instead."""
        request_line = len(self.scope["method"]) + len(self.url) + len(" HTTP/1.1\r\n") + 1
        headers = list(self.scope["headers"])
        if request_line > MAX_LINE_LENGTH:
            self._refuse_head(_URI_TOO_LONG)
        elif len(headers) > MAX_NUM_HEADERS or any(
            len(name) + len(value) + 4 > MAX_LINE_LENGTH for name, value in headers
        ):
            self._refuse_head()
        else:
            super().handle_websocket_upgrade()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._limits.head_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._head_bytes is not None and not self.transport.is_closing():
            self.transport.close()

    def _refuse_head(self, answer: bytes = _HEAD_TOO_LARGE) -> None:
        self._disarm()
        self._head_bytes = None
        self.transport.write(answer)
        self.transport.close()
