"""Faults: readers see every update once, in order, whatever happens to the server or to Redis.

Each scenario checks itself ("zero gaps, zero duplicates") and prints its figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time

import httpx
import pytest
import redis

from .clients import Follower, all_connected, key
from .conftest import Server, embedded_only, free_port

pytestmark = pytest.mark.timeout(180)
READERS = int(os.environ.get("LIVEBLOG_CHAOS_READERS", "200"))  # per transport; `make stress` raises it


class Publisher:
    """A bot publishing steadily, retrying (with one Idempotency-Key per update) until acknowledged."""

    def __init__(self, url: str, token: str, slug: str) -> None:
        self.client = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
        self.slug = slug
        self.acknowledged: list[str] = []
        self.failures = 0
        self.statuses: set[int] = set()

    async def publish(self, n: int) -> str:
        while True:
            try:
                response = await self.client.post(
                    f"/api/v1/blogs/{self.slug}/updates",
                    json={"body": f"update {n}"},
                    headers={"Idempotency-Key": f"{self.slug}-{n}"},
                )
            except httpx.TransportError:
                self.failures += 1
                await asyncio.sleep(0.05)
                continue
            self.statuses.add(response.status_code)
            if response.status_code == 201:
                update_id: str = response.json()["id"]
                if update_id not in self.acknowledged:
                    self.acknowledged.append(update_id)
                return update_id
            assert response.status_code in (503,), response.text  # never a 500
            self.failures += 1
            await asyncio.sleep(float(response.headers.get("retry-after", "0.1")) / 10)

    async def run(self, count: int, interval: float) -> None:
        for n in range(count):
            await self.publish(n)
            await asyncio.sleep(interval)

    async def aclose(self) -> None:
        await self.client.aclose()


def check_exactly_once(followers: list[Follower], expected: list[str]) -> dict[str, int]:
    """Every follower has every expected ID once, in stream order; returns the figures."""
    gaps = duplicates = 0
    for follower in followers:
        ids = follower.ids()
        duplicates += len(ids) - len(set(ids))
        gaps += len(set(expected) - set(ids))
        assert ids == expected, f"{follower.transport} follower: {len(ids)} ids, expected {len(expected)}"
        assert [key(i) for i in ids] == sorted(key(i) for i in ids)
    return {"gaps": gaps, "duplicates": duplicates}


async def stream_ids(api: httpx.AsyncClient, slug: str) -> list[str]:
    listed = (await api.get(f"/api/v1/blogs/{slug}/updates", params={"limit": 100})).json()["updates"]
    return sorted((u["id"] for u in listed), key=key)


async def test_server_crash_every_reader_resumes_with_every_update_once(tmp_path):
    srv = Server(tmp_path / "data").start()
    followers: list[Follower] = []
    publisher = None
    try:
        token = srv.token("chaos")
        publisher = Publisher(srv.url, token, "crash")
        assert (
            await publisher.client.post("/api/v1/blogs", json={"slug": "crash", "title": "C"})
        ).status_code == 201
        followers = [Follower(srv.url, "crash", t).start() for t in ("sse", "ws") for _ in range(READERS)]
        await all_connected(followers)
        steady = asyncio.ensure_future(publisher.run(60, 0.02))
        await asyncio.sleep(0.4)
        killed = time.monotonic()
        srv.kill()
        await asyncio.sleep(0.3)
        srv.start()
        restarted = time.monotonic() - killed
        await steady
        last = await publisher.publish(1000)
        started = time.monotonic()
        await asyncio.gather(*(f.wait_for_id(last, timeout=60) for f in followers))
        caught_up = time.monotonic() - started
        expected = await stream_ids(publisher.client, "crash")
        assert set(publisher.acknowledged) <= set(expected)  # nothing acknowledged was lost
        figures = check_exactly_once(followers, expected)
        reconnects = sum(f.connections for f in followers) - len(followers)
        print(
            f"\nserver crash: {len(followers)} readers, {len(expected)} updates "
            f"({len(publisher.acknowledged)} acknowledged, {publisher.failures} failed attempts), "
            f"down {restarted:.2f}s, {reconnects} reconnects, all caught up {caught_up:.2f}s after the "
            f"last publish; gaps {figures['gaps']}, duplicates {figures['duplicates']}"
        )
        assert reconnects >= len(followers)  # every reader did reconnect by itself
    finally:
        await asyncio.gather(*(f.close() for f in followers))
        if publisher is not None:
            await publisher.aclose()
        srv.stop()


@embedded_only
async def test_embedded_redis_crash_is_restarted_and_nothing_is_lost(tmp_path):
    srv = Server(tmp_path / "data").start()
    followers: list[Follower] = []
    publisher = None
    try:
        publisher = Publisher(srv.url, srv.token("redis-crash"), "rc")
        assert (
            await publisher.client.post("/api/v1/blogs", json={"slug": "rc", "title": "R"})
        ).status_code == 201
        followers = [Follower(srv.url, "rc", t).start() for t in ("sse", "ws") for _ in range(READERS // 4)]
        await all_connected(followers)
        steady = asyncio.ensure_future(publisher.run(40, 0.02))
        await asyncio.sleep(0.3)
        old_pid = srv.redis_pid()
        os.kill(old_pid, signal.SIGKILL)  # the supervised redis-server dies; the web server stays
        await steady
        last = await publisher.publish(1000)
        assert srv.redis_pid() != old_pid  # restarted by the supervisor
        await asyncio.gather(*(f.wait_for_id(last, timeout=60) for f in followers))
        expected = await stream_ids(publisher.client, "rc")
        assert set(publisher.acknowledged) <= set(expected)
        figures = check_exactly_once(followers, expected)
        assert publisher.statuses <= {201, 503}
        print(
            f"\nembedded redis crash: {len(followers)} readers, {len(expected)} updates, "
            f"{publisher.failures} failed attempts (statuses {sorted(publisher.statuses)}); "
            f"gaps {figures['gaps']}, duplicates {figures['duplicates']}"
        )
    finally:
        await asyncio.gather(*(f.close() for f in followers))
        if publisher is not None:
            await publisher.aclose()
        srv.stop()


REDIS_SERVER = shutil.which("redis-server")


@pytest.mark.skipif(REDIS_SERVER is None and not os.environ.get("CI"), reason="no redis-server installed")
async def test_external_redis_down_gives_503_and_readers_resume_with_no_gap_when_it_is_back(tmp_path):
    assert REDIS_SERVER is not None
    port = free_port()
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(redis_dir),
               "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip

    def start_redis() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError):
                if redis.Redis(port=port).ping():
                    return process
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    redis_process = start_redis()
    srv = Server(tmp_path / "data", redis_url=f"redis://127.0.0.1:{port}/0").start()
    followers: list[Follower] = []
    publisher = None
    try:
        publisher = Publisher(srv.url, srv.token("ext"), "ext")
        assert (
            await publisher.client.post("/api/v1/blogs", json={"slug": "ext", "title": "E"})
        ).status_code == 201
        followers = [Follower(srv.url, "ext", t).start() for t in ("sse", "ws") for _ in range(READERS // 4)]
        await all_connected(followers)
        before = [await publisher.publish(n) for n in range(10)]
        await asyncio.gather(*(f.wait_for_id(before[-1]) for f in followers))

        redis_process.kill()
        redis_process.wait()
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as client:
            started = time.monotonic()
            ready = await client.get("/readyz")
            response = await publisher.client.post("/api/v1/blogs/ext/updates", json={"body": "while down"})
            took = time.monotonic() - started
            assert ready.status_code == 503
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["retry-after"]) > 0
            assert took < 5, f"answers while Redis is down took {took:.1f}s"
            await asyncio.sleep(1.0)  # readers stay connected (or keep retrying) meanwhile
            redis_process = start_redis()
            async with asyncio.timeout(15):
                while (await client.get("/readyz")).status_code != 200:
                    await asyncio.sleep(0.1)
        after = [await publisher.publish(n) for n in range(10, 20)]
        await asyncio.gather(*(f.wait_for_id(after[-1], timeout=30) for f in followers))
        expected = await stream_ids(publisher.client, "ext")
        assert expected == before + after  # nothing acknowledged before the crash was lost
        figures = check_exactly_once(followers, expected)
        print(
            f"\nexternal redis down: 503 in {took * 1000:.0f} ms, {len(followers)} readers, "
            f"{len(expected)} updates; gaps {figures['gaps']}, duplicates {figures['duplicates']}"
        )
    finally:
        await asyncio.gather(*(f.close() for f in followers))
        if publisher is not None:
            await publisher.aclose()
        srv.stop()
        redis_process.kill()
        redis_process.wait()
