"""Real clients for tests: a raw-socket SSE reader (chunked HTTP/1.1, like a browser's
EventSource) and a WebSocket reader, both collecting parsed events."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets


@dataclass
class Received:
    id: str | None
    type: str
    data: dict[str, Any]


def key(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class SSEReader:
    """An EventSource over a raw socket; `events` fills as they arrive."""

    base_url: str
    path: str
    last_event_id: str | None = None
    events: list[Received] = field(default_factory=list)
    retry: int | None = None
    pings: int = 0
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _retried: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _writer: asyncio.StreamWriter | None = None

    async def connect(self, *, rcvbuf: int | None = None, read: bool = True) -> SSEReader:
        url = urlsplit(self.base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        if rcvbuf:
            import socket

            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self._writer = writer
        lines = [f"GET {self.path} HTTP/1.1", f"Host: {url.netloc}", "Accept: text/event-stream"]
        if self.last_event_id:
            lines.append(f"Last-Event-ID: {self.last_event_id}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        status_line = await reader.readline()
        self.status = int(status_line.split()[1])
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            self.headers[name.strip().lower()] = value.strip()
        if read:
            self._task = asyncio.ensure_future(self._read(reader))
        return self

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = b""
        try:
            chunked = self.headers.get("transfer-encoding") == "chunked"
            if not chunked and "content-length" in self.headers:
                # An error page, not a stream: read it whole, then the stream is over (a proxy
                # keeps the connection open after its 502, so waiting for EOF would wait forever).
                await reader.readexactly(int(self.headers["content-length"]))
                return
            while True:
                if chunked:
                    size_line = await reader.readline()
                    if not size_line:
                        return
                    size = int(size_line.strip() or b"0", 16)
                    if size == 0:
                        return
                    chunk = await reader.readexactly(size + 2)
                    buffer += chunk[:-2]
                else:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return
                    buffer += chunk
                while b"\n\n" in buffer:
                    block, buffer = buffer.split(b"\n\n", 1)
                    self._parse(block.decode())
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            self.closed.set()
            self._arrived.set()

    def _parse(self, block: str) -> None:
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                self.pings += line.strip() == ": ping"
                continue
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value
        if "retry" in fields:
            self.retry = int(fields["retry"])
            self._retried.set()
        if "data" in fields:
            event = Received(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]))
            self.events.append(event)
            if event.id:
                self.last_event_id = event.id
            self._arrived.set()

    async def live(self, timeout: float = 10.0) -> SSEReader:
        """Wait for the stream's first line, the `retry:` hint: the server sends it once the
        hub holds the subscription, so whatever is published from now on reaches this reader."""
        async with asyncio.timeout(timeout):
            await self._retried.wait()
        return self

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `count` events arrived (or fail after `timeout`)."""
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                if self.closed.is_set():
                    raise ConnectionError(
                        f"stream closed after {len(self.events)} of {count} events "
                        f"(status {self.status}, retry {self.retry}, {self.pings} pings)"
                    )
                self._arrived.clear()
                await self._arrived.wait()
        return self.events[:count]

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class WSReader:
    """A WebSocket reader of one blog; `events` fills as they arrive."""

    base_url: str
    path: str
    events: list[Received] = field(default_factory=list)
    close_code: int | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    ws: Any = None

    async def connect(self) -> WSReader:
        self.ws = await websockets.connect("ws" + self.base_url.removeprefix("http") + self.path)
        self._task = asyncio.ensure_future(self._read())
        return self

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                data = json.loads(message)
                self.events.append(Received(data.get("id"), data["type"], data))
                self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self._arrived.set()

    @property
    def last_event_id(self) -> str | None:
        return self.events[-1].id if self.events else None

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                if self.closed.is_set():
                    raise ConnectionError(
                        f"socket closed ({self.close_code}) after {len(self.events)} events"
                    )
                self._arrived.clear()
                await self._arrived.wait()
        return self.events[:count]

    async def close(self) -> None:
        await self.ws.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class Follower:
    """A reader that behaves like EventSource: when its stream ends or fails, it reconnects by
    itself after a short delay, resuming from the last event it has (Last-Event-ID for SSE,
    ?last_event_id= for WebSocket). `events` holds everything it received, across connections."""

    base_url: str
    slug: str
    transport: str = "sse"
    retry: float = 0.2
    events: list[Received] = field(default_factory=list)
    connections: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _current: SSEReader | WSReader | None = None

    def start(self) -> Follower:
        self._task = asyncio.ensure_future(self._run())
        return self

    @property
    def last_event_id(self) -> str | None:
        return self.events[-1].id if self.events else None

    async def _run(self) -> None:
        while True:
            try:
                self._current = reader = await self._connect()
            except (OSError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                await asyncio.sleep(self.retry)
                continue
            self.connections += 1
            await reader.closed.wait()
            await reader.close()
            await asyncio.sleep(self.retry)

    async def _connect(self) -> SSEReader | WSReader:
        """A reader that appends to this follower's own list of events."""
        last, shared = self.last_event_id, {"events": self.events, "_arrived": self._arrived}
        if self.transport == "sse":
            path = f"/api/v1/blogs/{self.slug}/events"
            return await SSEReader(self.base_url, path, last_event_id=last, **shared).connect()
        query = f"?last_event_id={last}" if last else ""
        return await WSReader(self.base_url, f"/api/v1/blogs/{self.slug}/ws{query}", **shared).connect()

    def ids(self) -> list[str]:
        return [e.id for e in self.events if e.id and e.type != "reset"]

    async def wait_for_id(self, event_id: str, timeout: float = 30.0) -> None:
        """Wait until the event `event_id` (or a later one) has arrived."""
        target = key(event_id)
        async with asyncio.timeout(timeout):
            while not self.events or self.events[-1].id is None or key(self.events[-1].id) < target:
                self._arrived.clear()
                await self._arrived.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._current is not None:
            await self._current.close()


async def all_connected(followers: list[Follower], timeout: float = 30.0) -> None:
    """Wait until every follower has made its first connection."""
    async with asyncio.timeout(timeout):
        while sum(f.connections for f in followers) < len(followers):
            await asyncio.sleep(0.05)
