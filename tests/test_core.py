"""The hub in this process, on a real embedded Redis: no server, no sockets but Redis's."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from liveblog.embedded import EmbeddedRedis
from liveblog.events import Event
from liveblog.hub import READER_FAILED, Hub, ReaderTooSlow, Subscription
from liveblog.redis_client import AsyncClient, connect
from liveblog.store import Keys, Store

pytestmark = pytest.mark.timeout(60)
_slugs = itertools.count(1)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    embedded = EmbeddedRedis(Path(tmp_path_factory.mktemp("core")))
    yield embedded.start()
    embedded.stop()


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[Store]:
    client = connect(redis_url)
    yield Store(client)
    await client.aclose()


@pytest.fixture
async def reader(redis_url: str) -> AsyncIterator[AsyncClient]:
    client = connect(redis_url, blocking=True)
    yield client
    await client.aclose()


@pytest.fixture
async def blog(store: Store) -> str:
    slug = f"core-{next(_slugs)}"
    await store.create_blog(slug, slug.title())
    return slug


@contextlib.asynccontextmanager
async def running(store: Store, reader: AsyncClient, **settings: Any) -> AsyncIterator[Hub]:
    """A hub of this process, closed at the end of the block."""
    hub = Hub(store, reader, **settings)
    try:
        yield hub
    finally:
        await hub.close()


async def publish(store: Store, slug: str, body: str) -> str:
    result = await store.publish(slug, {"body": body})
    update_id: str = result.update["id"]
    return update_id


async def received(sub: Subscription, count: int) -> list[str]:
    """The IDs of the next `count` events of `sub`."""
    got: list[str] = []
    batches = sub.batches()
    async with asyncio.timeout(10):
        while len(got) < count:
            got += [event.id for event in await anext(batches)]
    return got


async def ended(sub: Subscription) -> list[Event]:
    """What `sub` yields until the hub ends it."""
    async with asyncio.timeout(10):
        return [event async for batch in sub.batches() for event in batch]


@pytest.mark.parametrize("failure", ["malformed entry", "stream of the wrong type"])
async def test_a_failing_reader_ends_its_subscribers_and_restarts(store, reader, blog, failure):
    """Regression: `Channel._read` caught only connection errors; a `ResponseError` or an entry
    it could not decode killed it silently while its readers stayed connected for nothing."""
    events_key = Keys.of(blog).events
    async with running(store, reader) as hub:
        async with hub.subscribe(blog) as first, hub.subscribe(blog) as second:
            before = await publish(store, blog, "before")
            assert await received(first, 1) == await received(second, 1) == [before]
            if failure == "malformed entry":
                await store.redis.xadd(events_key, {"what": "not an entry the store writes"})
            else:
                await store.redis.delete(events_key)
                await store.redis.set(events_key, "a string")  # XREAD: WRONGTYPE (ResponseError)
                # Redis 6.2 leaves the blocked XREAD waiting out its BLOCK: its connection drops
                # (a failover error, retried), and the next XREAD meets the string.
                for client in await store.redis.client_list():
                    if client["cmd"] == "xread":
                        await store.redis.client_kill_filter(_id=client["id"])
            assert await ended(first) == await ended(second) == []
            assert first.reason == second.reason == READER_FAILED
        if failure != "malformed entry":
            await store.redis.delete(events_key)
        async with hub.subscribe(blog) as later:
            after = await publish(store, blog, "after")
            assert await received(later, 1) == [after]


async def test_a_subscription_closes_whatever_ends_its_block(store, reader, blog):
    async with running(store, reader, streams_per_client=1) as hub:
        with pytest.raises(RuntimeError):
            async with hub.subscribe(blog, client="10.0.0.1") as sub:
                channel = sub.channel
                assert sub in channel.subscribers
                raise RuntimeError("the transport failed")
        assert sub not in channel.subscribers
        async with hub.subscribe(blog, client="10.0.0.1"):  # its place is free again
            pass


class RecordingSink:
    def __init__(self) -> None:
        self.aborted = asyncio.Event()

    def abort(self) -> None:
        self.aborted.set()


async def test_a_send_that_stalls_is_cut_off_through_the_sink(store, reader, blog):
    """The hub times each batch it hands out; the transport only gives it a sink to abort."""
    sink = RecordingSink()
    async with running(store, reader, stall_timeout=0.2) as hub:
        async with hub.subscribe(blog, sink=sink) as stuck, hub.subscribe(blog) as healthy:
            first = await publish(store, blog, "one")
            batches = stuck.batches()
            assert [e.id for e in await anext(batches)] == [first]  # and its send never returns
            await asyncio.wait_for(sink.aborted.wait(), 10)
            with pytest.raises(ReaderTooSlow):
                await anext(batches)
            assert await received(healthy, 1) == [first]
            second = await publish(store, blog, "two")
            assert await received(healthy, 1) == [second]


async def test_keepalives_go_only_to_subscriptions_that_want_them(store, reader, blog):
    async with running(store, reader, ping_interval=0.2) as hub:
        async with hub.subscribe(blog) as pinged, hub.subscribe(blog, keepalive=False) as quiet:
            async with asyncio.timeout(10):
                assert [e.type for e in await anext(pinged.batches())] == ["ping"]
            update = await publish(store, blog, "after the ping")
            assert await received(quiet, 1) == [update]  # no ping before it


async def _fan_out_under_way(
    hub: Hub, redis_url: str, blog: str, readers: int, spent: float, bodies: list[str], gap: float
) -> tuple[str, list[str], list[list[list[str]]], list[Subscription]]:
    """`readers` subscriptions whose first send takes `spent` of the event loop each, so that
    the first update's fan-out lasts; meanwhile a thread publishes `bodies`, `gap` apart. The
    first update's ID, the later ones', and each reader's batches (their events' IDs)."""
    later: list[str] = []
    expected = 1 + len(bodies)

    def publish_later() -> None:  # from a thread: the event loop is busy with the fan-out
        async def run() -> None:
            client = connect(redis_url)
            try:
                for body in bodies:
                    later.append(await publish(Store(client), blog, body))
                    await asyncio.sleep(gap)
            finally:
                await client.aclose()

        asyncio.run(run())

    async with contextlib.AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(hub.subscribe(blog)) for _ in range(readers)]
        got: list[list[list[str]]] = [[] for _ in subs]
        publishing: list[asyncio.Future[None]] = []

        async def read(index: int, sub: Subscription) -> None:
            async for batch in sub.batches():
                got[index].append([event.id for event in batch])
                if len(got[index]) == 1:
                    if not publishing:
                        publishing.append(asyncio.ensure_future(asyncio.to_thread(publish_later)))
                    time.sleep(spent)  # the send of a reader far away, on the loop
                if sum(map(len, got[index])) == expected:
                    return

        tasks = [asyncio.ensure_future(read(i, sub)) for i, sub in enumerate(subs)]
        first = await publish(hub.store, blog, "first")
        async with asyncio.timeout(30):
            await asyncio.gather(*tasks, return_exceptions=True)
            await publishing[0]
        return first, later, got, subs


async def test_updates_read_during_a_fan_out_reach_each_reader_together_in_the_next_one(
    store, reader, blog, redis_url
):
    """Updates that come faster than a fan-out takes go out together: each reader gets what came
    meanwhile in one batch (one wake-up, one send), in order, once. Before, each update had a
    fan-out of its own, one after the other, and each reader a batch per update however far
    behind the fan-outs were: under load, a wake-up and a send per reader per update."""
    async with running(store, reader) as hub:  # the first fan-out takes about 3 s
        first, later, got, _ = await _fan_out_under_way(
            hub, redis_url, blog, 1000, 0.003, ["2", "3", "4"], 0.15
        )
    assert len(later) == 3
    assert got[0] == got[-1] == [[first], later]
    assert all(batches == [[first], later] for batches in got)


@pytest.mark.parametrize(
    ("readers", "spent", "gap"),
    [(4000, 0.0005, 0.02), (1000, 0.002, 0.01)],
    ids=["read a few at a time", "read 60 and more at a time"],
)
async def test_updates_read_during_a_fan_out_stay_within_what_a_reader_may_queue(
    store, reader, blog, redis_url, readers, spent, gap
):
    """100 updates published while the first fans out (for about 2 s), read by the hub a few at
    a time or, when the event loop is busier, 60 and more at a time. Joined without a bound, or
    read as they come, they would make a push of more than a reader's queue holds (64 here) and
    drop every reader as too slow: pushes stay within a quarter of it."""
    bodies = [f"later {i}" for i in range(100)]
    async with running(store, reader, queue_size=64) as hub:
        first, later, got, subs = await _fan_out_under_way(hub, redis_url, blog, readers, spent, bodies, gap)
    assert not any(sub.dropped for sub in subs)
    assert all([i for batch in batches for i in batch] == [first, *later] for batches in got)
    assert all(len(batch) <= 16 for batches in got for batch in batches)
