"""The hub under load: one Redis reader per blog, slow readers dropped alone, Redis errors survived."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time

import httpx
import pytest

from .clients import SSEReader, WSReader
from .conftest import Server, publish

pytestmark = pytest.mark.timeout(120)


async def metric(server: Server, name: str) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(server.url + "/metrics")).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match[1]) if match else 0.0


async def test_500_sse_readers_share_one_blocking_redis_reader(tmp_path):
    """On a server of its own, so that no other test's blog is being followed."""
    srv = Server(tmp_path / "data").start()
    readers = [SSEReader(srv.url, "/api/v1/blogs/many/events") for _ in range(500)]
    try:
        async with httpx.AsyncClient(
            base_url=srv.url, headers={"Authorization": f"Bearer {srv.token('x')}"}
        ) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "many", "title": "M"})).status_code == 201
            assert srv.stream_readers() == []
            await asyncio.gather(*(r.connect() for r in readers))
            await asyncio.sleep(0.5)
            before = await publish(api, "many", "warm-up")
            await asyncio.gather(*(r.wait_for(1) for r in readers))
            assert srv.stream_readers() == ["xread"]  # one for the blog, not one per reader
            update = await publish(api, "many", "to everyone")
            await asyncio.gather(*(r.wait_for(2) for r in readers))
            assert all([e.id for e in r.events] == [before["id"], update["id"]] for r in readers)
    finally:
        await asyncio.gather(*(r.close() for r in readers))
        srv.stop()


async def test_a_reader_that_stops_reading_is_dropped_and_the_others_keep_receiving(server, api, blog):
    healthy = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    frozen = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect(read=False)
    dropped_before = await metric(server, "liveblog_readers_dropped_total")
    body = "A long update. " * 4000  # about 60 KB of Markdown: the kernel buffers fill quickly
    count = 150
    published = []
    for i in range(count):
        published.append(await publish(api, blog, f"{i} {body}"))
        if await metric(server, "liveblog_readers_dropped_total") > dropped_before and i > 80:
            break
    received = await healthy.wait_for(len(published), timeout=60)
    assert [e.id for e in received] == [u["id"] for u in published]
    assert await metric(server, "liveblog_readers_dropped_total") > dropped_before
    # The frozen reader's connection was closed by the server: draining it ends in EOF, short.
    assert frozen._writer is not None
    reader = frozen._writer.transport.get_protocol()._stream_reader  # type: ignore[attr-defined]
    frozen._task = asyncio.ensure_future(frozen._read(reader))
    await asyncio.wait_for(frozen.closed.wait(), 30)
    assert len(frozen.events) < len(published)
    assert [e.id for e in frozen.events] == [u["id"] for u in published[: len(frozen.events)]]
    # The healthy reader is still live.
    last = await publish(api, blog, "still here")
    await healthy.wait_for(len(published) + 1)
    assert healthy.events[-1].id == last["id"]
    await healthy.close()
    await frozen.close()


async def test_reader_task_survives_a_redis_connection_error_and_resumes_from_its_last_id(server, api, blog):
    reader = await (await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect()).live()
    first = await publish(api, blog, "before the error")
    await reader.wait_for(1)
    redis = server.redis()
    killed = 0
    for client in redis.client_list():
        if client["cmd"] in ("xread",):
            killed += redis.client_kill_filter(_id=client["id"])
    assert killed >= 1
    during = [await publish(api, blog, f"while reconnecting {i}") for i in range(3)]
    received = await reader.wait_for(4, timeout=15)
    assert [e.id for e in received] == [first["id"]] + [u["id"] for u in during]
    await reader.close()


async def test_one_address_may_hold_only_so_many_streams(tmp_path):
    srv = Server(tmp_path / "data", streams_per_ip=3).start()
    readers: list[SSEReader | WSReader] = []
    try:
        token = srv.token("cap")
        async with httpx.AsyncClient(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "cap", "title": "Cap"})).status_code == 201
            readers = [await SSEReader(srv.url, "/api/v1/blogs/cap/events").connect() for _ in range(2)]
            readers.append(await WSReader(srv.url, "/api/v1/blogs/cap/ws").connect())
            await asyncio.sleep(0.2)
            refused = await SSEReader(srv.url, "/api/v1/blogs/cap/events").connect()
            await refused.closed.wait()
            assert refused.status == 429
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) > 0
            await refused.close()
            closed = await WSReader(srv.url, "/api/v1/blogs/cap/ws").connect()
            await closed.closed.wait()
            assert closed.close_code == 1013
            # The ones admitted still work, and a stream that ends frees its place.
            update = await publish(api, "cap", "still live")
            for reader in readers:
                assert [e.id for e in await reader.wait_for(1)] == [update["id"]]
            await readers.pop().close()
            await asyncio.sleep(0.2)
            again = await SSEReader(srv.url, "/api/v1/blogs/cap/events").connect()
            assert again.status == 200
            readers.append(again)
    finally:
        await asyncio.gather(*(r.close() for r in readers))
        srv.stop()


async def _pings_until_dropped(base_url: str, path: str) -> tuple[int, float]:
    """A WebSocket client that reads but never answers a ping: the pings it got, and the seconds
    until the server dropped it."""
    host, port = base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    started, pings = time.monotonic(), 0
    try:
        while True:  # server frames: unmasked, small
            head = await reader.readexactly(2)
            size = head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(await reader.readexactly(2), "big")
            await reader.readexactly(size)
            pings += (head[0] & 0x0F) == 0x9
    except (asyncio.IncompleteReadError, ConnectionError):
        return pings, time.monotonic() - started
    finally:
        writer.close()


async def test_the_hub_pings_every_reader_from_one_timer_per_blog(tmp_path):
    srv = Server(tmp_path / "data", ping_interval=0.2).start()
    try:
        token = srv.token("pings")
        async with httpx.AsyncClient(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "p", "title": "P"})).status_code == 201
        live = await SSEReader(srv.url, "/api/v1/blogs/p/events").connect()
        ws = await WSReader(srv.url, "/api/v1/blogs/p/ws").connect()
        deaf = asyncio.ensure_future(_pings_until_dropped(srv.url, "/api/v1/blogs/p/ws"))
        await asyncio.sleep(1.5)
        assert live.pings >= 4  # one ": ping" comment per interval, from one timer per blog
        assert ws.events == []  # WebSocket readers get protocol pings, not text frames
        assert not ws.closed.is_set()  # its client answers them, so it stays
        pings, dropped_after = await asyncio.wait_for(deaf, 5)
        assert pings >= 1 and dropped_after < 1.0, (pings, dropped_after)  # no pong: gone
        tasks = await metric(srv, "liveblog_asyncio_tasks")
        more = [await SSEReader(srv.url, "/api/v1/blogs/p/events").connect() for _ in range(20)]
        await asyncio.sleep(0.5)
        per_reader = (await metric(srv, "liveblog_asyncio_tasks") - tasks) / len(more)
        assert per_reader <= 4, per_reader  # no ping task per connection
        assert all(r.pings >= 1 for r in more)
        await asyncio.gather(*(r.close() for r in [live, ws, *more]))
    finally:
        srv.stop()


async def test_readers_of_a_blog_that_keeps_sending_get_no_pings_between_its_events(tmp_path):
    """A reader gets a keep-alive only when it got nothing for most of an interval: a ping
    fan-out in the middle of an update's would delay the update for tens of thousands of readers."""
    srv = Server(tmp_path / "data", ping_interval=0.6).start()
    try:
        async with httpx.AsyncClient(
            base_url=srv.url, headers={"Authorization": f"Bearer {srv.token('t')}"}
        ) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "busy", "title": "B"})).status_code == 201
            reader = await SSEReader(srv.url, "/api/v1/blogs/busy/events").connect()
            for n in range(18):  # an update every 0.1 s for 1.8 s: three intervals
                await publish(api, "busy", f"update {n}")
                await asyncio.sleep(0.1)
            await reader.wait_for(18)
            assert reader.pings == 0
            await asyncio.sleep(1.5)  # quiet: pings again, one per interval at most
            assert 2 <= reader.pings <= 4, reader.pings
            await reader.close()
    finally:
        srv.stop()
