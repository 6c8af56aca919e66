"""Graceful shutdown: SIGTERM ends every stream cleanly with a retry hint; readers resume on the
next process with no gap."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from .clients import SSEReader, WSReader
from .conftest import Server, publish

pytestmark = pytest.mark.timeout(90)


async def test_sigterm_closes_streams_with_a_retry_hint_and_readers_resume_without_gap(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        token = srv.token("shutdown")
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=srv.url, headers=headers) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "s", "title": "S"})).status_code == 201
            sse = [await SSEReader(srv.url, "/api/v1/blogs/s/events").connect() for _ in range(20)]
            ws = [await WSReader(srv.url, "/api/v1/blogs/s/ws").connect() for _ in range(5)]
            await asyncio.sleep(0.3)
            before = [await publish(api, "s", f"before {i}") for i in range(3)]
            for reader in [*sse, *ws]:
                await reader.wait_for(3)

        assert srv.process is not None
        started = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(asyncio.gather(*(r.closed.wait() for r in [*sse, *ws])), 10)
        srv.process.wait(15)
        took = time.monotonic() - started
        assert took < 8, f"the server took {took:.1f}s to exit"
        for reader in sse:
            assert reader.retry is not None and reader.retry <= 2000  # the hint sent at the end
            assert [e.id for e in reader.events] == [u["id"] for u in before]
        assert {r.close_code for r in ws} <= {1001, 1012}  # going away / service restart

        srv.process = None
        srv.start()
        async with httpx.AsyncClient(base_url=srv.url, headers=headers) as api:
            missed = [await publish(api, "s", f"while down {i}") for i in range(2)]
            resumed = [
                await SSEReader(srv.url, "/api/v1/blogs/s/events", last_event_id=r.last_event_id).connect()
                for r in sse
            ]
            await asyncio.sleep(0.2)
            after = await publish(api, "s", "after")
            expected = [u["id"] for u in [*missed, after]]
            for reader in resumed:
                assert [e.id for e in await reader.wait_for(3)] == expected
            await asyncio.gather(*(r.close() for r in [*sse, *resumed]))
            await asyncio.gather(*(r.close() for r in ws))
    finally:
        srv.stop()


async def test_a_publish_in_flight_at_sigterm_completes_and_is_kept(tmp_path):
    srv = Server(tmp_path / "data").start()
    try:
        headers = {"Authorization": f"Bearer {srv.token('inflight')}"}
        async with httpx.AsyncClient(base_url=srv.url, headers=headers, timeout=30) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "f", "title": "F"})).status_code == 201
            slow = "[a](https://example.org/b) " * 2300  # about 0.3 s of Markdown to render
            request = asyncio.ensure_future(api.post("/api/v1/blogs/f/updates", json={"body": slow}))
            await asyncio.sleep(0.1)  # the request is being handled now
            assert srv.process is not None
            srv.process.send_signal(signal.SIGTERM)
            response = await request
            assert response.status_code == 201, response.text  # answered, not cut off
            srv.process.wait(15)
        srv.process = None
        srv.start()
        async with httpx.AsyncClient(base_url=srv.url) as client:
            kept = (await client.get(f"/api/v1/blogs/f/updates/{response.json()['id']}")).json()
            assert kept["body"] == slow
    finally:
        srv.stop()
