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
        if "data" in fields:
            event = Received(fields.get("id"), fields.get("event", "message"), json.loads(fields["data"]))
            self.events.append(event)
            if event.id:
                self.last_event_id = event.id
            self._arrived.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `count` events arrived (or fail after `timeout`)."""
        async with asyncio.timeout(timeout):
            while len(self.events) < count:
                if self.closed.is_set():
                    raise ConnectionError(f"stream closed after {len(self.events)} of {count} events")
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
