"""Real HTTP endpoints on loopback for the workers to reach: a webhook receiver that records
what it gets, and a feed server with ETags (the webhooks, feed bot and desk tests share them)."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from dataclasses import dataclass, field
from typing import Any, Self

from standardwebhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]] | None:
    """The path and the (lower-cased) headers of the next request's head; None at the end."""
    line = await reader.readline()
    if not line:
        return None
    _, path, _ = line.decode().split(" ", 2)
    headers = {}
    while (header := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = header.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    return path, headers


@dataclass
class Loopback:
    """An asyncio server on a loopback address (a free port unless `port`); subclasses `_serve`."""

    host: str = "127.0.0.1"
    port: int = 0
    tls: ssl.SSLContext | None = None
    server: asyncio.Server | None = None

    async def start(self) -> Self:
        self.server = await asyncio.start_server(self._serve, self.host, self.port, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@dataclass(kw_only=True)
class Receiver(Loopback):
    """An HTTP/1.1 server on loopback that records every request: `/fail-once/...` answers 500 to
    its first request, `/slow/...` answers after `delay` seconds, anything else 204 at once."""

    requests: list[Received] = field(default_factory=list)
    delay: float = 0.5
    server: asyncio.Server | None = None
    _failed: set[str] = field(default_factory=set)
    _open: set[asyncio.StreamWriter] = field(default_factory=set)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open.add(writer)
        try:
            while head := await read_head(reader):
                path, headers = head
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.requests.append(Received(path, headers, body))
                status = "204 No Content"
                if path.startswith("/fail-once") and path not in self._failed:
                    self._failed.add(path)
                    status = "500 Internal Server Error"
                if path.startswith("/slow"):
                    await asyncio.sleep(self.delay)
                writer.write(f"HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n".encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._open.discard(writer)
            writer.close()

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]

    async def wait_for(self, path: str, check: Any, timeout: float = 30.0) -> list[Received]:
        async with asyncio.timeout(timeout):
            while not check(self.at(path)):
                await asyncio.sleep(0.05)
        return self.at(path)

    async def close(self) -> None:
        await super().close()
        for writer in list(self._open):  # the worker's kept-alive connections: their readers end
            writer.close()
        async with asyncio.timeout(5):
            while self._open:
                await asyncio.sleep(0.01)


@dataclass(kw_only=True)
class FeedServer(Loopback):
    """HTTP/1.1 on loopback: `files` maps a path to (content type, body), served with an ETag and
    answered 304 when `If-None-Match` matches; `/huge` streams 6 MB, `/loop` redirects to itself."""

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    hits: list[tuple[str, int]] = field(default_factory=list)

    def count(self, path: str, status: int) -> int:
        return sum(1 for p, s in self.hits if (p, s) == (path, status))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await read_head(reader)
            if head is None:
                return
            path, headers = head
            if path == "/huge":
                self.hits.append((path, 200))
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\nconnection: close\r\n\r\n"
                )
                writer.write(b"<rss version='2.0'><channel><title>")
                for _ in range(6 * 16):
                    writer.write(b"x" * 65536)
                    await writer.drain()
                return
            if path == "/loop":
                self.hits.append((path, 302))
                writer.write(
                    b"HTTP/1.1 302 Found\r\nlocation: /loop\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                return
            if path not in self.files:
                self.hits.append((path, 404))
                writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                return
            kind, body = self.files[path]
            etag = '"' + hashlib.sha1(body).hexdigest() + '"'
            if headers.get("if-none-match") == etag:
                self.hits.append((path, 304))
                writer.write(
                    f"HTTP/1.1 304 Not Modified\r\netag: {etag}\r\nconnection: close\r\n\r\n".encode()
                )
                return
            self.hits.append((path, 200))
            head = f"HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\netag: {etag}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


def rss(title: str, *items: int) -> tuple[str, bytes]:
    """An RSS 2.0 feed of the numbered items, the newest (highest) first."""
    entries = "".join(
        f"<item><guid isPermaLink='false'>item-{n}</guid><title>Item {n}</title>"
        f"<link>https://example.org/{n}</link>"
        f"<description>&lt;p&gt;Text of &lt;b&gt;item {n}&lt;/b&gt;&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;</description></item>"
        for n in sorted(items, reverse=True)
    )
    doc = f"<?xml version='1.0'?><rss version='2.0'><channel><title>{title}</title><link>https://example.org/</link>{entries}</channel></rss>"
    return "application/rss+xml", doc.encode()


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The body, verified as a receiver would with the standardwebhooks library."""
    data: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return data
