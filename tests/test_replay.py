"""What a resume replays: bounded in memory whatever the history, and never a retracted text.

Issue 10, findings 1 and 2: a `Last-Event-ID: 0` from ten slow anonymous readers took a server
from 58 MiB to 2,589 MiB (the whole stream read with one XRANGE and written in one send), and
an update's original text stayed one `curl` away after it was edited or deleted.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from liveblog.hub import Hub
from liveblog.store import Keys, Store

from .clients import SSEReader, WSReader, key
from .conftest import Server, publish

pytestmark = pytest.mark.timeout(180)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def slow_reader(base_url: str, path: str, stop: asyncio.Event, rate: int = 2048) -> int:
    """`curl -N --limit-rate 2k -H 'Last-Event-ID: 0'`: reads `rate` bytes a second; returns
    how many bytes it got."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port, limit=rate)
    request = f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\nLast-Event-ID: 0\r\n\r\n"
    writer.write(request.encode())
    got = 0
    try:
        while not stop.is_set():
            chunk = await reader.read(rate)
            if not chunk:
                break
            got += len(chunk)
            await asyncio.sleep(1)
    finally:
        writer.close()
    return got


async def test_ten_slow_readers_resuming_from_0_on_a_50_mb_blog_cost_the_server_little_memory(tmp_path):
    srv = Server(tmp_path / "data", rate_limit=1_000_000, streams_per_ip=0, replay_max_bytes=1 << 30).start()
    stop = asyncio.Event()
    try:
        token = srv.token("filler")
        async with httpx.AsyncClient(
            base_url=srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "big", "title": "Big"})).status_code == 201
            body = ("The talks went on late into the night. " * 1500)[:60_000]
            sem = asyncio.Semaphore(4)

            async def fill(n: int) -> str:
                async with sem:
                    return str((await publish(api, "big", f"{n} {body}"))["id"])

            ids = sorted(await asyncio.gather(*(fill(n) for n in range(450))), key=key)
        stream_bytes = sum(
            len(data)
            for _, fields in srv.redis().xrange(Keys.of("big").events)
            for name, data in fields.items()
            if name == b"data"
        )
        assert stream_bytes > 50_000_000
        live = await SSEReader(srv.url, "/api/v1/blogs/big/events").connect()  # the hub follows the blog
        await asyncio.sleep(1.0)
        assert srv.process is not None
        pid = srv.process.pid
        before = rss_kib(pid)
        readers = [
            asyncio.ensure_future(slow_reader(srv.url, "/api/v1/blogs/big/events", stop)) for _ in range(10)
        ]
        peak = before
        for _ in range(40):  # 10 s
            await asyncio.sleep(0.25)
            peak = max(peak, rss_kib(pid))
        stop.set()
        got = await asyncio.gather(*readers)
        growth_mb = (peak - before) / 1024
        print(
            f"\nstream {stream_bytes / 1e6:.1f} MB in {len(ids)} events; RSS {before / 1024:.0f} MiB "
            f"before, peak {peak / 1024:.0f} MiB (+{growth_mb:.1f} MiB) with 10 slow readers from 0; "
            f"they got {min(got)}-{max(got)} bytes each"
        )
        assert all(g > 0 for g in got)
        assert growth_mb < 100

        # A reader that does read gets the whole history from the pages, once each, in order.
        full = await SSEReader(srv.url, "/api/v1/blogs/big/events", last_event_id="0").connect()
        received = await full.wait_for(len(ids), timeout=120)
        assert [e.id for e in received] == ids
        await full.close()
        await live.close()
    finally:
        stop.set()
        srv.stop()


async def test_a_position_beyond_the_replay_window_gets_reset(tmp_path):
    srv = Server(tmp_path / "data", rate_limit=1_000_000, replay_max_events=5, ring_size=2).start()
    try:
        token = srv.token("window")
        async with httpx.AsyncClient(base_url=srv.url, headers={"Authorization": f"Bearer {token}"}) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "w", "title": "W"})).status_code == 201
            published = [await publish(api, "w", f"n{i}") for i in range(12)]
        path = "/api/v1/blogs/w/events"
        far = await SSEReader(srv.url, path, last_event_id=published[1]["id"]).connect()  # 10 behind
        (event,) = await far.wait_for(1)
        assert event.type == "reset"
        assert event.id == published[-1]["id"]
        start = await SSEReader(srv.url, path, last_event_id="0").connect()
        (event,) = await start.wait_for(1)
        assert event.type == "reset"
        near = await SSEReader(srv.url, path, last_event_id=published[7]["id"]).connect()  # 4 behind
        received = await near.wait_for(4)
        assert [e.id for e in received] == [u["id"] for u in published[8:]]
        for reader in (far, start, near):
            await reader.close()
    finally:
        srv.stop()


async def test_the_ring_is_bounded_by_bytes_and_older_positions_are_read_from_the_stream(server, api, blog):
    """A hub of this process on the test server's Redis, with a ring of 100 KB."""
    published = [await publish(api, blog, f"{i} " + "x" * 5000) for i in range(20)]
    client = server.aredis()
    hub = Hub(Store(client), client, ring_bytes=100_000)
    try:
        channel = await hub.channel(blog)
        assert 0 < channel.ring_bytes <= 100_000
        assert 1 < len(channel.ring) < 20
        assert channel.ring[-1].id == published[-1]["id"]
        got: list[str] = []
        async with hub.subscribe(blog, published[0]["id"]) as sub, asyncio.timeout(10):
            async for batch in sub.batches():
                got += [e.id for e in batch]
                if len(got) >= 19:
                    break
        assert got == [u["id"] for u in published[1:]]
    finally:
        await hub.close()
        await client.aclose()


async def test_an_address_holding_too_many_replay_bytes_is_refused(tmp_path):
    srv = Server(
        tmp_path / "data",
        rate_limit=1_000_000,
        streams_per_ip=0,
        ring_bytes=100_000,  # the replays read the stream, a page at a time
        replay_bytes_per_ip=2_000_000,
    ).start()
    stop = asyncio.Event()
    try:
        token = srv.token("cap")
        async with httpx.AsyncClient(
            base_url=srv.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "cap", "title": "C"})).status_code == 201
            body = ("Shelling continued through the night. " * 1500)[:60_000]
            for n in range(100):
                await publish(api, "cap", f"{n} {body}")
        # Each reader that stops reading leaves a page of its replay (about 240 KB or more)
        # waiting in the server once the socket buffers are full.
        stalled = [
            await SSEReader(srv.url, "/api/v1/blogs/cap/events", last_event_id="0").connect(
                rcvbuf=4096, read=False
            )
            for _ in range(12)
        ]
        await asyncio.sleep(2)
        refused = await SSEReader(srv.url, "/api/v1/blogs/cap/events", last_event_id="0").connect()
        other = await SSEReader(srv.url, "/api/v1/blogs/cap/events").connect()  # live only: no replay
        print(
            f"\nafter 12 stalled replays from one address: {refused.status} "
            f"(Retry-After {refused.headers.get('retry-after')}); live only: {other.status}; "
            f"statuses of the stalled ones: {sorted(r.status for r in stalled)}"
        )
        assert refused.status == 429
        assert refused.headers.get("retry-after")
        assert other.status == 200  # a stream without a replay holds none
        for reader in (*stalled, refused, other):
            await reader.close()
    finally:
        stop.set()
        srv.stop()


SECRET_A, SECRET_B, SECRET_EDIT = (
    "CONFIDENTIAL-source-name",
    "CONFIDENTIAL-wrong-casualty",
    "CONFIDENTIAL-draft",
)


async def public_paths(server: Server, blog: str, ids: list[str]) -> dict[str, str]:
    """Everything a reader can fetch about the blog, by path."""
    paths = [
        f"/blogs/{blog}",
        f"/blogs/{blog}/embed",
        f"/blogs/{blog}?transport=ws",
        f"/blogs/{blog}/feed.atom",
        f"/blogs/{blog}/feed.json",
        f"/api/v1/blogs/{blog}/updates?limit=100",
        *(f"/blogs/{blog}/updates/{i}" for i in ids),
        *(f"/api/v1/blogs/{blog}/updates/{i}" for i in ids),
    ]
    async with httpx.AsyncClient(base_url=server.url) as client:
        return {path: (await client.get(path)).text for path in paths}


async def replays(server: Server, blog: str, last_event_id: str, count: int) -> list[str]:
    """The data of a replay from `last_event_id`, over SSE and WebSocket."""
    sse = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events", last_event_id=last_event_id).connect()
    ws = await WSReader(server.url, f"/api/v1/blogs/{blog}/ws?last_event_id={last_event_id}").connect()
    texts = []
    for reader in (sse, ws):
        received = await reader.wait_for(count)
        texts.append(json.dumps([e.data for e in received]))
        await asyncio.sleep(0.3)  # nothing more is coming
        assert len(reader.events) == count, [e.type for e in reader.events]
        await reader.close()
    return texts


@pytest.mark.parametrize("warm", [True, False], ids=["from the ring", "from the stream"])
async def test_edited_and_deleted_text_is_on_no_public_path(server, api, blog, warm):
    first = await publish(api, blog, "The visit was announced.")
    live = await SSEReader(server.url, f"/api/v1/blogs/{blog}/events").connect() if warm else None
    if live is not None:
        await live.live()  # the hub follows the blog: its ring holds what follows
    kept = await publish(api, blog, f"Named by {SECRET_A}.", title=SECRET_A)
    gone = await publish(api, blog, f"{SECRET_B} was reported.")
    edited = await api.patch(f"/api/v1/blogs/{blog}/updates/{kept['id']}", json={"body": SECRET_EDIT})
    assert edited.status_code == 200
    edited = await api.patch(
        f"/api/v1/blogs/{blog}/updates/{kept['id']}", json={"body": "Named by a source.", "title": "Named"}
    )
    assert edited.status_code == 200
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{gone['id']}")).status_code == 204
    if live is not None:
        await live.wait_for(5)
        await live.close()

    # From the start: the first update, the kept one as its latest edit, and the deletion.
    for text in await replays(server, blog, "0", 3):
        assert "CONFIDENTIAL" not in text
        assert "Named by a source." in text
    # From before them (the ring when warm): the same, less the first update.
    for text in await replays(server, blog, first["id"], 2):
        assert "CONFIDENTIAL" not in text
    # An erased event's ID is still a position to resume from, not an unknown one (no reset).
    for text in await replays(server, blog, kept["id"], 2):
        assert "CONFIDENTIAL" not in text and '"reset"' not in text
    for path, text in (await public_paths(server, blog, [first["id"], kept["id"], gone["id"]])).items():
        assert "CONFIDENTIAL" not in text, path
    stream = server.redis().xrange(Keys.of(blog).events)
    assert all(b"CONFIDENTIAL" not in fields[b"data"] for _, fields in stream)
    assert [fields[b"type"] for _, fields in stream] == [
        b"update.published",
        b"update.edited",
        b"update.deleted",
    ]


async def test_compact_rewrites_the_append_only_file(server, api, blog):
    secret = f"CONFIDENTIAL-{os.getpid()}-takedown"
    update = await publish(api, blog, secret)
    assert (await api.delete(f"/api/v1/blogs/{blog}/updates/{update['id']}")).status_code == 204
    nodes = server.redis_nodes()  # on a cluster, every node's file (replicas hold the text too)
    if not all(node.info("persistence").get("aof_enabled") for node in nodes):
        pytest.skip("this Redis keeps no append-only file")
    output = server.cli("compact")
    assert "rewr" in output.lower()
    for node in nodes:
        directory = node.config_get("dir")["dir"]
        files = [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names]
        aof = [f for f in files if "appendonly" in os.path.basename(f)]
        assert aof
        assert not any(secret.encode() in Path(f).read_bytes() for f in aof), directory
        node.close()
