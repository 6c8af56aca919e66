"""Acknowledged means replicated (`LIVEBLOG_REDIS_WAIT_REPLICAS`), and a master that dies under
readers and a bot: on one Redis with a replica, and on a real Redis Cluster (`tests/cluster.py`).

The failover run prints its figures (`-s` shows them): the time without a master, the time until
posting succeeded again, the 503s seen, and the acknowledged updates lost, the gaps and the
duplicates across every reader. With WAIT 1 each of those is 0; with WAIT 0 the loss is measured
and printed, not asserted (Redis replication is asynchronous).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from liveblog.auth import create_token
from liveblog.hub import Hub
from liveblog.store import Keys, Store

from .clients import Follower, all_connected, key
from .cluster import Cluster, Node, cluster_binaries
from .conftest import STRESS, ExternalRedis, Server, free_port

REDIS_SERVER = "/usr/bin/redis-server"
needs_redis7 = pytest.mark.skipif(
    cluster_binaries() is None and not os.environ.get("CI"),
    reason="needs Debian's redis-server and redis-cli (Redis 7); CI installs them",
)
pytestmark = [pytest.mark.timeout(120), needs_redis7]


# -- one Redis with one replica -----------------------------------------------------------------


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[ExternalRedis, ExternalRedis]]:
    """A Redis 7 master and its replica (synced)."""
    master = ExternalRedis(REDIS_SERVER, tmp_path / "master")
    replica = ExternalRedis(REDIS_SERVER, tmp_path / "replica")
    master.start()
    replica.start()
    with replica_client(replica) as client:
        client.replicaof("127.0.0.1", master.port)
        deadline = time.monotonic() + 10
        while client.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.05)
    yield master, replica
    for process in (master.process, replica.process):
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
    replica.stop()
    master.stop()


def replica_client(node: ExternalRedis) -> redis.Redis:
    return redis.Redis.from_url(node.url, socket_timeout=5)


async def bot(url: str, redis_url: str, cluster: bool = False) -> httpx.AsyncClient:
    client: Any = (RedisCluster if cluster else aioredis.Redis).from_url(redis_url)
    try:
        token = await create_token(Store(client), "bot-" + uuid.uuid4().hex[:8], None)
    finally:
        await client.aclose()
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


async def test_write_waits_for_its_replica_and_a_missing_one_is_503_then_a_retry_confirms(
    tmp_path, replicated
):
    master, replica = replicated
    server = Server(tmp_path / "data", redis_url=master.url, redis_wait_replicas=1, redis_wait_timeout=300)
    server.start()
    try:
        async with await bot(server.url, master.url) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "wait", "title": "W"})).status_code == 201
            first = await api.post("/api/v1/blogs/wait/updates", json={"body": "one"})
            assert first.status_code == 201, first.text
            # Confirmed by the replica: it holds the update the moment the answer arrives.
            with replica_client(replica) as client:
                assert client.hget(Keys.of("wait").updates, first.json()["id"])

            # A node that never ran the scripts (a restarted or promoted master): NOSCRIPT in
            # the pipeline falls back to EVAL.
            with replica_client(master) as client:
                client.script_flush()
            assert (await api.post("/api/v1/blogs/wait/updates", json={"body": "two"})).status_code == 201

            assert replica.process is not None
            os.kill(replica.process.pid, signal.SIGSTOP)  # alive, connected, silent
            headers = {"Idempotency-Key": "three"}
            started = time.monotonic()
            refused = await api.post("/api/v1/blogs/wait/updates", json={"body": "three"}, headers=headers)
            assert refused.status_code == 503, refused.text
            assert 0.3 <= time.monotonic() - started < 3
            assert refused.headers["retry-after"]
            assert "Idempotency-Key" in refused.json()["detail"]
            assert "may" in refused.json()["detail"]
            patched = await api.patch("/api/v1/blogs/wait", json={"title": "X"})
            assert patched.status_code == 503, patched.text
            deleted = await api.delete(f"/api/v1/blogs/wait/updates/{first.json()['id']}")
            assert deleted.status_code == 503, deleted.text

            os.kill(replica.process.pid, signal.SIGCONT)
            retried = await api.post("/api/v1/blogs/wait/updates", json={"body": "three"}, headers=headers)
            assert retried.status_code == 201, retried.text
            listed = (await api.get("/api/v1/blogs/wait/updates")).json()["updates"]
            assert [u["body"] for u in listed].count("three") == 1  # the first attempt's, replayed
            with replica_client(replica) as client:
                assert client.hget(Keys.of("wait").updates, retried.json()["id"])
    finally:
        server.stop()


async def test_without_wait_replicas_no_wait_is_sent(tmp_path, replicated):
    """N=0 costs nothing: no WAIT reaches Redis."""
    master, _ = replicated
    server = Server(tmp_path / "data", redis_url=master.url).start()
    try:
        async with await bot(server.url, master.url) as api:
            assert (await api.post("/api/v1/blogs", json={"slug": "nowait", "title": "N"})).status_code == 201
            for n in range(3):
                response = await api.post("/api/v1/blogs/nowait/updates", json={"body": f"{n}"})
                assert response.status_code == 201
        with replica_client(master) as client:
            assert "cmdstat_wait" not in client.info("commandstats")
    finally:
        server.stop()


async def test_hub_reader_survives_errors_other_than_a_lost_connection(replicated):
    """Regression: the blog's reader caught only connection errors, so a replica answering
    MASTERDOWN (as a cluster node does mid-failover: ClusterDown, TryAgain, ReadOnly...) ended
    its task for good and its readers got nothing more. The reader here reads from the replica."""
    master, replica = replicated
    with replica_client(replica) as client:
        client.config_set("replica-serve-stale-data", "no")
    writer = aioredis.Redis.from_url(master.url)
    reader = aioredis.Redis.from_url(replica.url, socket_timeout=15)
    store = Store(writer)
    hub = Hub(store, reader)
    try:
        await store.create_blog("masterdown", "M")
        await until(lambda: replica_client(replica).exists(Keys.of("masterdown").meta))
        async with hub.subscribe("masterdown") as sub:
            batches = sub.batches()
            first = await store.publish("masterdown", {"body": "one"})
            assert [e.id for e in await anext(batches)] == [first.update["id"]]

            with replica_client(replica) as client:
                client.replicaof("127.0.0.1", free_port())  # the link to its master is down
                client.client_kill_filter(_type="normal", skipme=True)  # the hub's XREAD reconnects
                with pytest.raises(redis.exceptions.MasterDownError):
                    client.xlen(Keys.of("masterdown").events)
            second = await store.publish("masterdown", {"body": "two"})
            await asyncio.sleep(0.5)  # the reader gets MASTERDOWN meanwhile
            with replica_client(replica) as client:
                client.replicaof("127.0.0.1", master.port)
            async with asyncio.timeout(15):
                assert [e.id for e in await anext(batches)] == [second.update["id"]]
    finally:
        await hub.close()
        await reader.aclose()
        await writer.aclose()


async def until(check: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)


# -- a master of a Redis Cluster dies -------------------------------------------------------------


@dataclass
class Figures:
    without_master: float = 0.0  # from the kill until a replica held the blogs' slots
    until_posting: float = 0.0  # from the kill until the first 201 after it
    statuses: Counter[int] = field(default_factory=Counter)
    connection_errors: int = 0
    acknowledged: int = 0
    lost: int = 0
    gaps: int = 0
    duplicates: int = 0
    disorder: int = 0
    phantoms: int = 0  # events readers got that the blog no longer has (a write lost in the failover)
    resets: int = 0
    reconnections: int = 0

    def line(self, wait: int) -> str:
        return (
            f"WAIT {wait}: {self.without_master:.2f} s without a master, posting again after "
            f"{self.until_posting:.2f} s; {self.acknowledged} acknowledged, {self.statuses[503]} 503s, "
            f"{self.connection_errors} connection errors, {self.statuses[500]} 500s; lost {self.lost}, "
            f"gaps {self.gaps}, duplicates {self.duplicates}, out of order {self.disorder}, "
            f"phantoms {self.phantoms}, resets {self.resets}, reconnections {self.reconnections}"
        )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    running = Cluster(tmp_path / "cluster").start()
    yield running
    running.stop()


def restart(node: Node, args: list[str]) -> None:
    """Start a killed node again on its files: it rejoins as a replica of whoever took over."""
    node.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def blogs_on_one_master(cluster: Cluster, count: int) -> tuple[Node, list[str]]:
    """`count` new slugs whose slots the same master holds."""
    run = uuid.uuid4().hex[:6]
    by_master: dict[int, list[str]] = {}
    for n in range(200):
        slug = f"fo-{run}-{n}"
        by_master.setdefault(cluster.master_of(Keys.of(slug).events).port, []).append(slug)
        port, slugs = max(by_master.items(), key=lambda item: len(item[1]))
        if len(slugs) == count:
            return next(node for node in cluster.nodes if node.port == port), slugs
    raise AssertionError("no master got enough blogs")


async def all_updates(api: httpx.AsyncClient, slug: str) -> list[str]:
    ids, before = [], None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"before": before} if before else {})}
        page = (await api.get(f"/api/v1/blogs/{slug}/updates", params=params)).json()
        ids += [u["id"] for u in page["updates"]]
        before = page["next_before"]
        if before is None:
            return ids


async def failover(tmp_path: Path, cluster: Cluster, wait: int, readers: int = 100) -> Figures:
    figures = Figures()
    server = Server(
        tmp_path / f"data-{wait}",
        redis_url=cluster.url,
        redis_cluster=1,
        redis_wait_replicas=wait,
        rate_limit=1_000_000,
        streams_per_ip=0,
    ).start()
    master, slugs = blogs_on_one_master(cluster, 4)
    followers: list[Follower] = []
    try:
        async with await bot(server.url, cluster.url, cluster=True) as api:
            for slug in slugs:
                created = await api.post("/api/v1/blogs", json={"slug": slug, "title": slug})
                assert created.status_code == 201, created.text
            followers = [Follower(server.url, slugs[n % len(slugs)]).start() for n in range(readers)]
            await all_connected(followers)
            acked: dict[str, list[str]] = {slug: [] for slug in slugs}
            killed_at: float | None = None
            stop = asyncio.Event()

            async def post(slug: str, n: int) -> None:
                """One update, its own Idempotency-Key, retried until 201 (503s, lost connections)."""
                headers = {"Idempotency-Key": f"{slug}-{n}"}
                while True:
                    try:
                        response = await api.post(
                            f"/api/v1/blogs/{slug}/updates", json={"body": f"update {n}"}, headers=headers
                        )
                    except httpx.TransportError:
                        figures.connection_errors += 1
                        await asyncio.sleep(0.1)
                        continue
                    figures.statuses[response.status_code] += 1
                    if response.status_code == 201:
                        acked[slug].append(response.json()["id"])
                        if killed_at is not None and not figures.until_posting:
                            figures.until_posting = time.monotonic() - killed_at
                        return
                    assert response.status_code == 503, response.text
                    await asyncio.sleep(0.1)

            async def posting() -> None:
                n = 0
                while not stop.is_set():
                    started = time.monotonic()
                    await post(slugs[n % len(slugs)], n)
                    n += 1
                    await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

            poster = asyncio.create_task(posting())
            await asyncio.sleep(2)
            assert master.process is not None
            args = list(master.process.args)  # type: ignore[arg-type]
            killed_at = time.monotonic()
            await asyncio.to_thread(cluster.kill, master)
            await asyncio.to_thread(cluster.wait_for_master_of, Keys.of(slugs[0]).events, master.port)
            figures.without_master = time.monotonic() - killed_at
            restart(master, args)  # as a supervisor would: back as the new master's replica
            async with asyncio.timeout(30):
                while not figures.until_posting:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(2)
            stop.set()
            await poster

            for slug in slugs:
                present = set(await all_updates(api, slug))
                figures.acknowledged += len(acked[slug])
                figures.lost += sum(1 for i in acked[slug] if i not in present)
            finals = {slug: max(await all_updates(api, slug), key=key) for slug in slugs}
            await asyncio.gather(*(f.wait_for_id(finals[f.slug], timeout=30) for f in followers))
            blog_ids = {slug: sorted(await all_updates(api, slug), key=key) for slug in slugs}
            for follower in followers:
                got = follower.ids()
                want = blog_ids[follower.slug]
                figures.gaps += len(set(want) - set(got))
                figures.duplicates += len(got) - len(set(got))
                figures.disorder += sum(1 for a, b in zip(got, got[1:], strict=False) if key(a) >= key(b))
                figures.phantoms += len(set(got) - set(want))
                figures.resets += sum(1 for e in follower.events if e.type == "reset")
                figures.reconnections += follower.connections - 1
    finally:
        await asyncio.gather(*(f.close() for f in followers))
        server.stop()
    return figures


async def test_failover_with_wait_1_loses_nothing_and_readers_notice_nothing(tmp_path, cluster):
    figures = await failover(tmp_path, cluster, wait=1)
    print("\n" + figures.line(1))
    assert figures.statuses[500] == 0
    assert set(figures.statuses) <= {201, 503}
    assert figures.until_posting < 1.5 + 8
    assert figures.lost == 0
    assert figures.gaps == 0
    assert figures.duplicates == 0
    assert figures.disorder == 0


@pytest.mark.skipif(not STRESS, reason="a measurement (make stress); its figures are in the README")
async def test_failover_with_wait_0_is_measured(tmp_path, cluster):
    """Replication is asynchronous: without WAIT an acknowledged update may be lost when its
    master dies. Printed, not asserted; only 500s, hangs, gaps and duplicates fail it."""
    figures = await failover(tmp_path, cluster, wait=0)
    print("\n" + figures.line(0))
    assert figures.statuses[500] == 0
    assert figures.duplicates == 0
    assert figures.disorder == 0


async def test_a_slot_without_any_node_is_503_in_bounded_time_never_500(tmp_path, cluster):
    """A blog whose master and replica are both dead, then every node: writes and reads are 503
    with Retry-After, in bounded time, never 500. Regression: with no node reachable redis-py
    raises RedisClusterException ("Redis Cluster cannot be connected"), which is no RedisError
    and was a 500."""
    server = Server(tmp_path / "data", redis_url=cluster.url, redis_cluster=1, rate_limit=1_000_000).start()
    try:
        (master, [dead]), slugs = blogs_on_one_master(cluster, 1), []
        for n in range(200):
            slug = f"alive-{n}"
            if cluster.master_of(Keys.of(slug).events).port != master.port:
                slugs.append(slug)
                break
        alive = slugs[0]
        async with await bot(server.url, cluster.url, cluster=True) as api:
            for slug in (dead, alive):
                assert (
                    await api.post("/api/v1/blogs", json={"slug": slug, "title": slug})
                ).status_code == 201
            with master.client() as client:
                replica_port = next(
                    int(r["port"]) for r in client.info("replication").values() if isinstance(r, dict)
                )
            cluster.kill(next(n for n in cluster.nodes if n.port == replica_port))
            cluster.kill(master)
            for attempt in range(3):
                started = time.monotonic()
                response = await api.post(f"/api/v1/blogs/{dead}/updates", json={"body": f"x{attempt}"})
                elapsed = time.monotonic() - started
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"]
                assert elapsed < 10, elapsed
                read = await api.get(f"/api/v1/blogs/{dead}/updates")
                assert read.status_code == 503, read.text
            print(f"\na slot with no node: 503 after {elapsed:.2f} s")
            for node in [n for n in cluster.nodes if n.process is not None]:
                cluster.kill(node)
            started = time.monotonic()
            response = await api.post(f"/api/v1/blogs/{alive}/updates", json={"body": "no cluster"})
            assert response.status_code == 503, response.text
            assert time.monotonic() - started < 10
            print(f"no node at all: 503 after {time.monotonic() - started:.2f} s")
            ready = await api.get("/readyz")
            assert ready.status_code == 503
    finally:
        server.stop()
