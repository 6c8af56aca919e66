"""The benchmark's own code as a correctness check: every reader gets every update exactly once.

No timing assertions and no nginx: a small liveblog server (and sse-starlette alone, the
yardstick of `--floor`), 200 SSE and 200 WebSocket readers from `bench.loadgen`, a few
updates, and a small reconnect storm.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench import scenarios
from bench.floor import Floor
from bench.loadgen import Fleet, SSEReader, WSReader, body_text, publish
from bench.servers import Liveblog

pytestmark = pytest.mark.timeout(120)


def _feed_bytewise(reader: SSEReader | WSReader, stream: bytes) -> None:
    for i in range(len(stream)):
        reader.data_received(stream[i : i + 1])


def test_sse_parser_survives_any_segmentation() -> None:
    fleet = Fleet("127.0.0.1", 1, "/", 1, "sse")
    fleet.expect(0, 3)
    reader = SSEReader(fleet, 0)
    events = b"retry: 2000\n\n" + b"".join(
        f'id: 1-{i}\nevent: update.published\ndata: {{"body":"{body_text(i, 1.0)}",'
        f'"html":"<p>{body_text(i, 1.0)}</p>"}}\n\n'.encode()
        for i in range(3)
    )
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (events[:7], events[7:]))
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
    _feed_bytewise(reader, head + chunks)
    assert list(fleet.counts) == [1, 1, 1]  # the body and the html both say seq=: counted once
    assert reader.last_id == b"1-2"
    assert fleet.strays == 0


def test_ws_parser_survives_any_segmentation() -> None:
    fleet = Fleet("127.0.0.1", 1, "/", 1, "ws")
    fleet.expect(5, 2)
    reader = WSReader(fleet, 0)
    big = ("x" * 300 + body_text(6, 1.0)).encode()
    frames = bytes((0x81, len(body_text(5, 1.0)))) + body_text(5, 1.0).encode()
    frames += bytes((0x81, 126)) + len(big).to_bytes(2, "big") + big
    head = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n"
    _feed_bytewise(reader, head + frames)
    assert list(fleet.counts) == [1, 1]


@pytest.mark.parametrize("name", ["liveblog", "sse-starlette"])
async def test_every_reader_gets_every_update_once(name: str, tmp_path: Path) -> None:
    """On liveblog, and on the yardstick of `--floor` (sse-starlette alone): every reader gets
    every update once, over SSE and WebSocket, and a reconnecting reader resumes from its
    Last-Event-ID; on liveblog without a Redis command of its own."""
    server: Liveblog | Floor = (
        Liveblog(cpus=None, root=tmp_path) if name == "liveblog" else Floor(cpus=None)
    ).start()
    fleets: list[Fleet] = []
    try:
        slug = await server.channel()
        fleets = [
            Fleet(server.host, server.port, server.path(kind, slug), 200, kind) for kind in ("sse", "ws")
        ]
        for fleet in fleets:
            await fleet.connect(concurrency=64)
            assert (len(fleet.connect_times), fleet.failed) == (200, 0), fleet.kind
            fleet.expect(0, 5)

        async def post(body: bytes) -> tuple[int, float]:
            return await server.post(slug, body)

        sent = await publish(post, 0, 5, 0.05, server.ok)
        assert sent.failures == 0
        for fleet in fleets:
            assert await fleet.wait_complete(timeout=30), fleet.kind
        await asyncio.sleep(0.3)  # a late duplicate would land here
        for fleet in fleets:
            figures = scenarios.summarize(fleet, sent)
            assert figures["deliveries"] == 200 * 5, fleet.kind
            assert (figures["missing"], figures["duplicates"], figures["strays"]) == (0, 0, 0), fleet.kind
            assert fleet.lost == 0, fleet.kind

        counter = server.redis_commands if isinstance(server, Liveblog) else None
        storm = await scenarios.reconnect_storm(server, 100, counter)
        assert storm["complete"] and storm["reconnected"] == 100
        assert (storm["missing"], storm["duplicates"], storm["strays"], storm["resets"]) == (0, 0, 0, 0)
        assert (storm["redis_commands"] is not None) == isinstance(server, Liveblog)
    finally:
        for fleet in fleets:
            await fleet.close()
        await server.stop()
