"""sse-starlette alone: the floor under any server built on it (`python -m bench --floor`).

Issue 17 keeps sse-starlette as liveblog's SSE transport; this measures what it costs by
itself. The same uvicorn (uvloop, httptools, websockets-sansio, one worker) and the same
collector settings as liveblog, and nothing else: no Starlette, no Redis, no hub. A publish
appends the pre-encoded event to its channel's list in memory and wakes every reader through
one shared future; each SSE reader is an `EventSourceResponse` set up as liveblog's (no
sse-starlette ping, one shared shutdown event, the same `_send_with_timeout` override) over
a generator that yields what it has not sent yet (one chunk per wake-up, as liveblog's
batches), from its `Last-Event-ID` on. WebSocket readers get the same bytes as text frames
from uvicorn's `send`. Whatever this costs, a server that streams through sse-starlette on
uvicorn costs at least.

A yardstick for the bench, not a service: it listens on 127.0.0.1 for the bench's own run and
keeps every event it is sent (a run publishes a few hundred per channel).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
from sse_starlette import EventSourceResponse

from liveblog import sse
from liveblog.app import tune_gc
from liveblog.sse import SHUTDOWN_GRACE, SubscriptionResponse

from .servers import ChildServer, wait_http, wrap

MAX_BODY = 64 * 1024


class Channel:
    __slots__ = ("events", "woken")

    def __init__(self) -> None:
        self.events: list[bytes] = []  # event i has the id i + 1
        self.woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def publish(self, text: bytes) -> int:
        seq = len(self.events) + 1
        self.events.append(b"id: %d\ndata: %s\n\n" % (seq, text))
        woken, self.woken = self.woken, asyncio.get_running_loop().create_future()
        woken.set_result(None)
        return seq

    async def since(self, sent: int) -> AsyncIterator[bytes]:
        events = self.events
        while True:
            if len(events) > sent:
                batch, sent = events[sent:], len(events)
                yield batch[0] if len(batch) == 1 else b"".join(batch)
            else:
                await self.woken


class Lean(EventSourceResponse):
    # liveblog's override of sse-starlette's private per-send hook, the same function (pinned
    # release, `sse.check()` at the first request, tests/test_seams.py): the floor measures
    # sse-starlette as liveblog uses it.
    _send_with_timeout = SubscriptionResponse._send_with_timeout


CHANNELS: dict[str, Channel] = {}
_shutdown: anyio.Event | None = None


def _channel(path: str, prefix: str) -> Channel | None:
    name = path[len(prefix) :]
    if not path.startswith(prefix) or not name or "/" in name:
        return None
    channel = CHANNELS.get(name)
    if channel is None:
        channel = CHANNELS[name] = Channel()
    return channel


def _last_id(scope: dict[str, Any]) -> int:
    for name, value in scope["headers"]:
        if name == b"last-event-id":
            return int(value) if value.isdigit() and len(value) < 19 else 0
    return 0


async def _plain(send: Any, status: int, body: bytes = b"") -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Any) -> bytes | None:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_BODY:
            return None
        if not message.get("more_body"):
            return body


async def _websocket(channel: Channel, receive: Any, send: Any) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})

    async def forward() -> None:
        async for chunk in channel.since(len(channel.events)):
            await send({"type": "websocket.send", "text": chunk.decode()})

    sender = asyncio.get_running_loop().create_task(forward())
    try:
        while (await receive())["type"] != "websocket.disconnect":
            pass
    finally:
        sender.cancel()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _shutdown
    if _shutdown is None:  # once the modules are in: as `liveblog serve` and its lifespan do
        sse.check()  # the `_send_with_timeout` override below is only sound on the pinned release
        tune_gc()
        _shutdown = anyio.Event()
    if scope["type"] == "websocket":
        channel = _channel(scope["path"], "/ws/")
        if channel is not None:
            await _websocket(channel, receive, send)
        return
    if scope["type"] != "http":
        return
    path, method = scope["path"], scope["method"]
    if path == "/" and method == "GET":
        await _plain(send, 200, b"sse-starlette alone\n")
    elif method == "POST" and (channel := _channel(path, "/pub/")) is not None:
        body = await _read_body(receive)
        if body is None:
            await _plain(send, 413)
        else:
            await _plain(send, 201, b"%d" % channel.publish(body))
    elif method == "GET" and (channel := _channel(path, "/sse/")) is not None:
        response = Lean(
            channel.since(_last_id(scope)),
            ping=0,
            sep="\n",
            shutdown_event=_shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE,
        )
        await response(scope, receive, send)
    else:
        await _plain(send, 404)


class Floor(ChildServer):
    """`bench.floor:app` under uvicorn, a child of the bench, with the bench's server interface."""

    name = "sse-starlette"

    def __init__(self, cpus: str | None = "0") -> None:
        super().__init__(cpus, "lbbench-floor-")
        self.log = self.root / "server.log"

    def start(self) -> Floor:
        command = [
            sys.executable, "-m", "uvicorn", "bench.floor:app", "--host", self.host, "--port",
            str(self.port), "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
            "--lifespan", "off", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        root = Path(__file__).resolve().parent.parent
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                wrap(command, self.cpus), stdout=out, stderr=subprocess.STDOUT, cwd=root
            )
        wait_http(f"http://{self.host}:{self.port}/", self.process, self.log)
        return self

    def path(self, kind: str, channel: str) -> str:
        return f"/{kind}/{channel}"

    def page_path(self, channel: str) -> str:
        return "/"
