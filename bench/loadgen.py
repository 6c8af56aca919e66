"""The load generator: N lean SSE or WebSocket readers on raw sockets, and a raw HTTP publisher.

Raw asyncio protocols, no client library on the hot path. A reader keeps a few
slots of state; what it receives is recorded in its fleet's flat arrays (one
arrival time and one count per reader and update), so 19,000 readers cost a few
megabytes. Each update's body carries `lbbench seq=N t=SENT`; a reader counts
the first `seq=` of each event (SSE: between blank lines; WebSocket: per frame).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from array import array
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

MARK = b"seq="
LINGER_RST = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT eating the client's ports
WS_KEY = base64.b64encode(b"liveblog-bench-k").decode()


def body_text(seq: int, sent: float) -> str:
    return f"lbbench seq={seq} t={sent:.6f}"


class _Reader(asyncio.Protocol):
    """Shared connection handling: request, response head, then the transport's framing."""

    __slots__ = ("fleet", "index", "transport", "head", "chunked", "raw", "need", "skip", "text", "last_id")

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.head: bytes | None = b""  # None once the response head is parsed
        self.chunked = False
        self.raw = b""
        self.need = 0
        self.skip = 0
        self.text = b""
        self.last_id: bytes | None = None

    def request(self) -> bytes:
        raise NotImplementedError

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)
        transport.write(self.request())

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.fleet._lost(self)

    def data_received(self, data: bytes) -> None:
        if self.head is not None:
            head = self.head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self.head = head
                return
            self.head = None
            status = head[9:12]
            headers = head[:end].lower()
            self.chunked = b"transfer-encoding: chunked" in headers
            self.fleet._ready(self, status)
            data = head[end + 4 :]
            if not data:
                return
        self.received(data)

    def received(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class SSEReader(_Reader):
    __slots__ = ()

    def request(self) -> bytes:
        fleet = self.fleet
        extra = b""
        if self.last_id is not None:
            extra = b"Last-Event-ID: " + self.last_id + b"\r\n"
        return fleet.request_head + extra + b"\r\n"

    def received(self, data: bytes) -> None:
        if self.chunked:
            data = self._dechunk(data)
        text = self.text + data if self.text else data
        end = text.rfind(b"\n\n")
        if end < 0:
            self.text = text
            return
        self.text = text[end + 2 :]
        now = time.time()
        fleet = self.fleet
        for event in text[:end].split(b"\n\n"):
            if event.startswith(b"id: "):
                newline = event.find(b"\n")
                self.last_id = event[4:newline] if newline > 0 else event[4:]
                if b"\nevent: reset\n" in event:
                    fleet.resets += 1
            at = event.find(MARK)
            if at >= 0:
                fleet._arrived(self.index, int(event[at + 4 : event.find(b" ", at)]), now)

    def _dechunk(self, data: bytes) -> bytes:
        buf = self.raw + data if self.raw else data
        out = []
        pos, size = 0, len(buf)
        while pos < size:
            if self.need:
                take = min(self.need, size - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self.need -= take
                if not self.need:
                    self.skip = 2
            elif self.skip:
                take = min(self.skip, size - pos)
                pos += take
                self.skip -= take
            else:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                self.need = int(buf[pos:eol].split(b";", 1)[0], 16)
                pos = eol + 2
                if not self.need:  # the last chunk: the server ended the stream
                    self.close()
                    break
        self.raw = buf[pos:]
        return out[0] if len(out) == 1 else b"".join(out)


class WSReader(_Reader):
    """A WebSocket client reader: unmasked server frames in, pongs and close (masked) out."""

    __slots__ = ()

    def request(self) -> bytes:
        return self.fleet.request_head + b"\r\n"

    def received(self, data: bytes) -> None:
        buf = self.raw + data if self.raw else data
        pos, size = 0, len(buf)
        now = 0.0
        while size - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            if size - start < length:
                break
            pos = start + length
            if opcode <= 2:
                at = buf.find(MARK, start, pos)
                if at >= 0:
                    now = now or time.time()
                    self.fleet._arrived(self.index, int(buf[at + 4 : buf.find(b" ", at)]), now)
            elif opcode == 9:
                self._send(0xA, buf[start:pos])
            elif opcode == 8:
                self._send(0x8, buf[start : start + 2])
                self.close()
                return
        self.raw = buf[pos:]

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None:
            return
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.transport.write(bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked)


@dataclass
class Fleet:
    """N readers of one URL; per reader and update: arrival time and a delivery count."""

    host: str
    port: int
    path: str
    n: int
    kind: str = "sse"  # or "ws"
    readers: list[_Reader] = field(default_factory=list)
    connect_times: list[float] = field(default_factory=list)
    failed: int = 0
    lost: int = 0
    resets: int = 0
    strays: int = 0
    base: int = 0
    m: int = 0
    arrivals: array[float] = field(default_factory=lambda: array("d"))
    counts: bytearray = field(default_factory=bytearray)
    first: list[int] = field(default_factory=list)  # readers that have each update at least once
    _pending: dict[int, asyncio.Future[bytes]] = field(default_factory=dict)
    _complete: asyncio.Event | None = None
    _closing: bool = False

    def __post_init__(self) -> None:
        host = f"{self.host}:{self.port}".encode()
        if self.kind == "sse":
            self.request_head = (
                b"GET " + self.path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
                b"Accept: text/event-stream\r\nCache-Control: no-cache\r\n"
            )
        elif self.kind == "ws":
            self.request_head = (
                b"GET " + self.path.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
                b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: " + WS_KEY.encode() + b"\r\n"
            )
        else:
            raise ValueError(f"kind must be 'sse' or 'ws', not {self.kind!r}")

    # -- connecting ----------------------------------------------------------------------------

    def _new(self, index: int) -> _Reader:
        return SSEReader(self, index) if self.kind == "sse" else WSReader(self, index)

    async def _open(self, reader: _Reader, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        self._pending[reader.index] = future
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(lambda: reader, self.host, self.port)
                status = await future
        except (OSError, TimeoutError):
            self.failed += 1
            reader.close()
            return
        finally:
            self._pending.pop(reader.index, None)
        if status not in (b"200", b"101"):
            self.failed += 1
            reader.close()
            return
        self.connect_times.append(time.perf_counter() - started)

    def _ready(self, reader: _Reader, status: bytes) -> None:
        future = self._pending.get(reader.index)
        if future is not None and not future.done():
            future.set_result(status)

    def _lost(self, reader: _Reader) -> None:
        future = self._pending.get(reader.index)
        if future is not None and not future.done():
            future.set_result(b"000")
        elif not self._closing:
            self.lost += 1

    async def connect(self, concurrency: int = 256, timeout: float = 30.0) -> float:
        """Open all N readers, `concurrency` handshakes at a time; returns the wall time it took."""
        self.readers = [self._new(i) for i in range(self.n)]
        return await self._open_all(self.readers, concurrency, timeout, spread=0.0)

    async def reconnect(self, spread: float, concurrency: int = 2048, timeout: float = 30.0) -> float:
        """Drop every reader, then open each again (with its Last-Event-ID) spread over `spread` s."""
        self.drop()
        fresh = []
        for old in self.readers:
            reader = self._new(old.index)
            reader.last_id = old.last_id
            fresh.append(reader)
        self.readers = fresh
        self.connect_times.clear()
        return await self._open_all(fresh, concurrency, timeout, spread)

    async def _open_all(
        self, readers: Sequence[_Reader], concurrency: int, timeout: float, spread: float
    ) -> float:
        self._closing = False
        gate = asyncio.Semaphore(concurrency)
        loop = asyncio.get_running_loop()
        started = loop.time()

        async def one(i: int, reader: _Reader) -> None:
            if spread:
                await asyncio.sleep(max(0.0, started + spread * i / len(readers) - loop.time()))
            async with gate:
                await self._open(reader, timeout)

        await asyncio.gather(*(one(i, r) for i, r in enumerate(readers)))
        return loop.time() - started

    def drop(self) -> None:
        """Abort every connection (RST), as a crash or a lost network would."""
        self._closing = True
        for reader in self.readers:
            reader.close()

    async def close(self) -> None:
        self.drop()
        await asyncio.sleep(0)  # let the transports run connection_lost

    # -- receiving -------------------------------------------------------------------------------

    def expect(self, base: int, m: int) -> None:
        """Record updates `base` .. `base + m - 1` from now on; anything else counts as a stray."""
        self.base, self.m = base, m
        self.arrivals = array("d", bytes(8 * self.n * m))
        self.counts = bytearray(self.n * m)
        self.first = [0] * m
        self._complete = asyncio.Event()
        self._target = len(self.connect_times)

    def _arrived(self, index: int, seq: int, now: float) -> None:
        offset = seq - self.base
        if not 0 <= offset < self.m:
            self.strays += 1
            return
        slot = index * self.m + offset
        count = self.counts[slot]
        if count:
            self.counts[slot] = min(count + 1, 255)
            return
        self.counts[slot] = 1
        self.arrivals[slot] = now
        self.first[offset] += 1
        if self.first[offset] >= self._target and self._complete is not None:
            if all(c >= self._target for c in self.first):
                self._complete.set()

    async def wait_complete(self, timeout: float) -> bool:
        """Wait until every connected reader has every expected update; False on timeout."""
        assert self._complete is not None
        try:
            async with asyncio.timeout(timeout):
                await self._complete.wait()
        except TimeoutError:
            return False
        return True


class Publisher:
    """One keep-alive HTTP/1.1 connection for POSTs; `post` returns the status and latency."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> tuple[int, float]:
        reused = self._writer is not None
        try:
            return await self._post(path, body, content_type)
        except (asyncio.IncompleteReadError, ConnectionError):
            await self.close()
            if not reused:
                raise
            return await self._post(path, body, content_type)  # the server closed an idle keep-alive

    async def _post(self, path: str, body: bytes, content_type: str) -> tuple[int, float]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        started = time.perf_counter()
        self._writer.write(
            (
                f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.headers}"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lowered = head.lower()
        if b"transfer-encoding: chunked" in lowered:
            while True:
                size = int((await self._reader.readline()).split(b";")[0], 16)
                await self._reader.readexactly(size + 2)
                if not size:
                    break
        else:
            at = lowered.find(b"content-length:")
            if at >= 0:
                length = int(lowered[at + 15 : lowered.find(b"\r\n", at)])
                await self._reader.readexactly(length)
        if b"connection: close" in lowered:
            await self.close()
        return status, time.perf_counter() - started

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = self._reader = None


@dataclass
class Sent:
    """What the publisher did: send time (wall clock, as in the body) and latency per update."""

    times: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    failures: int = 0


async def publish(
    post: Callable[[bytes], Awaitable[tuple[int, float]]],
    base: int,
    m: int,
    interval: float,
    ok: Sequence[int],
) -> Sent:
    """Publish updates `base` .. `base + m - 1`, `interval` s apart (0: back to back)."""
    sent = Sent()
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(m):
        if interval:
            await asyncio.sleep(max(0.0, start + i * interval - loop.time()))
        now = time.time()
        status, latency = await post(body_text(base + i, now).encode())
        sent.times.append(now)
        sent.latencies.append(latency)
        if status not in ok:
            sent.failures += 1
    return sent
